"""extract(): activations of a torch model's modules, captured by forward hooks.

One call runs the model over every batch of `data` and returns an ordered ``dict`` layer
name -> numpy array of shape ``(n_examples, ...)``, the batches joined in the order they
came. While it runs:

- the model is in eval mode, and every module's own train/eval flag is put back afterwards
  (also on error), so a model with some modules frozen in eval mode keeps them so;
- the forward passes run under :func:`torch.inference_mode`: no autograd graph is built;
- each captured output is detached and copied (or pooled into a new tensor) inside the hook,
  so an in-place operation later in the forward pass (``ReLU(inplace=True)``) cannot change
  it;
- every hook is removed when the call ends, whether it returned or raised.

With ``graph_nodes=True`` the model is traced by torch.fx instead (:mod:`.graph`), which also
reaches functional operations; the same guarantees hold, each node being copied by a call
inserted into the graph right after it.

The rows come in the order of `data`, batch after batch: pass the same data (not a
shuffling DataLoader, which is refused) to every model and row i is the same example in all
of them.

Cost: one forward pass over the data, plus one copy of each captured value into its final
place on the host; the returned arrays hold every captured layer for every example in memory.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np

from .._validate import check_option, check_positive_int
from ..errors import ShapeError, UnknownOptionError
from ._runtime import (
    DEFAULT_BATCH_SIZE,
    Record,
    Rows,
    Run,
    check_dtype,
    check_model,
    check_progress,
    import_torch,
    input_device,
    iterate_batches,
    match_names,
    model_inputs,
    progress_batches,
    restored_modes,
)
from .graph import recording_runner, trace

if TYPE_CHECKING:
    import torch

__all__ = ["extract", "DEFAULT_BATCH_SIZE"]

POOLS = ("mean", None)

Layers = Optional[Union[str, Sequence[str]]]
Select = Callable[[str, Any], "torch.Tensor"]


def extract(
    model: torch.nn.Module,
    data: Any,
    *,
    layers: Layers = None,
    device: Any = None,
    pool: str | None = None,
    select: Select | None = None,
    dtype: str | None = "float32",
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool | None = None,
    graph_nodes: bool = False,
) -> dict[str, np.ndarray]:
    """Run `model` over `data` and return the outputs of the chosen modules, batch by batch.

    Parameters
    ----------
    model : torch.nn.Module
        The network. It is not moved; it is put in eval mode for the call and every
        module's train/eval flag is restored afterwards.
    data : tensor, mapping, DataLoader or iterable of batches
        A tensor (or numpy array) of inputs, split into batches of `batch_size` rows; a
        mapping of keyword inputs (e.g. a tokenizer's output), its tensors split the same
        way; or an iterable of batches (a DataLoader, a list, a generator). A batch is a
        tensor (passed as ``model(batch)``), a mapping (passed as ``model(**batch)``) or a
        tuple/list such as ``(inputs, labels)``, of which only the first element is used:
        a tensor, a mapping, or a tuple/list passed as positional arguments. A DataLoader
        that shuffles is refused, since each call would see the examples in another order.
    layers : str or sequence of str, optional
        Module names or :mod:`fnmatch` glob patterns over ``model.named_modules()`` names,
        e.g. ``["layer1.*", "fc"]`` (``*`` also matches dots, so ``"layer1.*"`` matches every
        module inside ``layer1``). ``""`` names the model itself. Default: every leaf module
        (one without children; containers such as ModuleList excluded). A pattern that
        matches nothing raises UnknownOptionError listing some of the model's names. A
        module named exactly that never runs raises too; modules matched by a pattern or by
        the default that never run are left out with a warning that names them.
    device : str or torch.device, optional
        Where the inputs are moved before each forward pass. Default: the device of the
        model's first parameter (or buffer), else the CPU.
    pool : {None, "mean"}
        ``"mean"`` averages 4-D convolutional outputs ``(n, c, h, w)`` over the spatial axes
        into ``(n, c)`` (computed on the device, batch by batch); outputs of other ranks are
        kept as they are. ``None`` keeps every output's shape.
    select : callable, optional
        ``select(module_name, output) -> tensor`` picks the tensor to keep from a module's
        output. Default: the output itself if it is a tensor, else its first tensor found
        depth-first in a tuple, list, dict or ``ModelOutput`` (e.g. an LSTM's ``output``
        rather than its ``(h, c)``; a transformers layer's hidden state).
    dtype : {"float32", "float64", "float16", None}
        The returned arrays' dtype. ``None`` keeps each output's own dtype, except bfloat16
        and other types numpy lacks, which become float32.
    batch_size : int
        Rows per forward pass when `data` is a tensor, array or mapping; ignored for an
        iterable of batches.
    progress : bool, optional
        Show a tqdm progress bar over the batches. Default: when stderr is a terminal.
    graph_nodes : bool
        Capture nodes of the model's :mod:`torch.fx` graph instead of module outputs; this
        also reaches functional operations (``torch.flatten``, the addition of a residual
        branch). `layers` is then required and matches the eval-mode node names listed by
        :func:`replens.activations.graph_node_names`, named the way torchvision's feature
        extraction names them: ``"layer1.0.conv1"`` for a leaf module, ``"layer1.0.add"``
        for an operation inside ``layer1.0``, ``"layer1.0.relu_1"`` for a second call. Each
        node is recorded as soon as it is computed (in-place operations after it cannot
        change it) and nodes after the last chosen one are not run. The model must be
        traceable by torch.fx (no control flow on the input data); torchvision is not used.

    Returns
    -------
    dict of str to numpy.ndarray
        Layer name -> array of shape ``(n_examples, ...)`` on the host, rows in the order of
        `data`. Keys are in execution order: the order in which the modules were first
        called during the first batch's forward pass (a parent before the modules inside
        it). A module called k times in one forward pass gives k layers, ``name``,
        ``name:1``, ..., ``name:{k-1}``, in call order. With `graph_nodes`, keys are node names
        in the graph's order, which is also execution order.

    Raises
    ------
    UnknownOptionError
        An option is invalid, or `layers` matches no module (no graph node).
    ShapeError
        A captured output's first axis is not the batch's examples, or its other axes change
        from batch to batch (pool them, or pad inputs to one length).
    TooFewExamplesError
        `data` holds no batch.
    ReplensError
        `model` is not a torch module, `data` shuffles, a later batch runs other modules
        than the first (data-dependent control flow), or, with `graph_nodes`, torch.fx
        cannot trace the model.

    Notes
    -----
    Hooks fire only when a module is called as ``module(x)``; code that calls
    ``module.forward(x)`` bypasses them. A module registered under two names is reported
    under the first one that ``named_modules()`` gives.

    Examples
    --------
    >>> import torch
    >>> from replens.activations import extract
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> acts = extract(model, torch.randn(10, 4), progress=False)
    >>> {name: a.shape for name, a in acts.items()}
    {'0': (10, 8), '1': (10, 8), '2': (10, 2)}
    """
    torch = import_torch()
    check_model(torch, model)
    check_option("pool", pool, POOLS)
    dtype = check_dtype(dtype)
    batch_size = check_positive_int("batch_size", batch_size)
    check_progress(progress)
    if select is not None and not callable(select):
        raise UnknownOptionError(
            f"select must be a callable select(module_name, output) -> tensor, or None; got "
            f"{type(select).__name__} {select!r:.80}.")
    check_option("graph_nodes", graph_nodes, (False, True))
    patterns = _check_layers(layers)
    target = input_device(torch, model, device)
    batches, total, n_rows = iterate_batches(torch, data, batch_size)
    rows = Rows(torch, dtype, batches=total, examples=n_rows)

    def record(label: str, name: str, output: Any) -> None:
        chosen = select(name, output) if select is not None else first_tensor(output)
        if not isinstance(chosen, torch.Tensor):
            found = (f"select returned {type(chosen).__name__}" if select is not None
                     else f"its output ({type(output).__name__}) holds no tensor")
            raise ShapeError(
                f"layer {label!r}: {found}. Pass select=lambda name, output: ... returning the "
                f"tensor to keep, or leave this module out of layers.")
        rows.put(label, *pooled(torch, chosen, pool))

    with restored_modes(model):
        if graph_nodes:
            runner, names, exact = _graph_runner(model, patterns, record)
        else:
            runner, names, exact = _hook_runner(model, patterns, record)
        with runner as run_batch, torch.inference_mode():
            for index, batch in enumerate(progress_batches(batches, progress, total)):
                args, kwargs, n_batch = model_inputs(torch, batch, target)
                rows.begin(index, n_batch)
                labels = run_batch(args, kwargs)
                if index == 0:
                    _check_ran(names, exact, labels, graph_nodes)
                rows.end(labels)
    return rows.result()


def pooled(torch: Any, tensor: torch.Tensor, pool: str | None) -> tuple[torch.Tensor, bool]:
    """`tensor` detached, spatially averaged if `pool` is "mean" and it is 4-D (n, c, h, w).

    Returns it with True when it is a new tensor (the mean), which later in-place operations
    cannot reach, and False when it is still the module's own output.
    """
    tensor = tensor.detach()
    if pool == "mean" and tensor.ndim == 4:
        if not (tensor.is_floating_point() or tensor.is_complex()):
            tensor = tensor.to(torch.float32)
        return tensor.mean(dim=(2, 3)), True
    return tensor, False


def first_tensor(output: Any) -> Any:
    """The first tensor in `output`, depth-first through tuples, lists and mappings; else None.

    Mappings are read in their own order, so a transformers ``ModelOutput`` gives its first
    field that is set (``last_hidden_state`` for an encoder).
    """
    import torch

    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, Mapping):
        children: Iterable[Any] = output.values()
    elif isinstance(output, (tuple, list)):
        children = output
    else:
        return None
    for child in children:
        found = first_tensor(child)
        if found is not None:
            return found
    return None


def _check_layers(layers: Layers) -> list[str] | None:
    if layers is None:
        return None
    patterns = [layers] if isinstance(layers, str) else layers
    if not isinstance(patterns, Iterable) or not all(isinstance(p, str) for p in patterns):
        raise UnknownOptionError(
            f"layers must be a module name or pattern, a sequence of them, or None; got "
            f"{layers!r:.80}.")
    patterns = list(patterns)
    if not patterns:
        raise UnknownOptionError("layers is empty; pass module names or patterns, or None for "
                                 "every leaf module.")
    return patterns


def _hook_runner(model: torch.nn.Module, patterns: list[str] | None, record: Record):
    available = [name for name, _ in model.named_modules()]
    if patterns is None:
        names, exact = _leaf_modules(model), set()
    else:
        names, exact = match_names(patterns, available, "module of the model")
    modules = dict(model.named_modules())
    return _hooked(modules, names, record), names, exact


def _leaf_modules(model: torch.nn.Module) -> list[str]:
    import torch

    containers = (torch.nn.ModuleList, torch.nn.ModuleDict, torch.nn.ParameterList,
                  torch.nn.ParameterDict)
    leaves = [name for name, module in model.named_modules()
              if not any(True for _ in module.children()) and not isinstance(module, containers)]
    return leaves


@contextmanager
def _hooked(modules: Mapping[str, torch.nn.Module], names: list[str], record: Record
            ) -> Iterator[Run]:
    """Hooks on the named modules for the block; yields run(args, kwargs) -> labels in call order.

    A pre-hook numbers each call of a module and takes its place in call order; the forward
    hook records the output under that label. The hooks are removed on the way out, also on
    error.
    """
    calls: dict[str, int] = {}
    running: dict[str, list[str]] = {}
    labels: list[str] = []

    def pre_hook_for(name: str) -> Callable[..., None]:
        def pre_hook(module: Any, args: Any) -> None:
            count = calls.get(name, 0)
            calls[name] = count + 1
            label = name if count == 0 else f"{name}:{count}"
            labels.append(label)
            running.setdefault(name, []).append(label)
        return pre_hook

    def hook_for(name: str) -> Callable[..., None]:
        def hook(module: Any, args: Any, output: Any) -> None:
            record(running[name].pop(), name, output)
        return hook

    def run(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str]:
        calls.clear()
        running.clear()
        labels.clear()
        model(*args, **kwargs)
        return list(labels)

    model = modules[""]
    handles = []
    try:
        for name in names:
            handles.append(modules[name].register_forward_pre_hook(pre_hook_for(name)))
            handles.append(modules[name].register_forward_hook(hook_for(name)))
        yield run
    finally:
        for handle in handles:
            handle.remove()


def _graph_runner(model: torch.nn.Module, patterns: list[str] | None, record: Record):
    """The graph-node runner: trace the (eval-mode) model, match `layers` over its nodes."""
    if patterns is None:
        raise UnknownOptionError(
            "graph_nodes=True needs layers: graph node names or patterns, as listed by "
            "replens.activations.graph_node_names(model), e.g. ['layer1.0.add', 'flatten'].")
    traced = trace(model)
    names, exact = match_names(patterns, list(traced.nodes), "graph node of the model (eval mode)")
    return recording_runner(model, traced, names, record), names, exact


def _check_ran(names: list[str], exact: set[str], labels: list[str], graph: bool) -> None:
    if graph:
        return
    outputs = set(labels)
    if not outputs:
        raise UnknownOptionError(
            f"none of the {len(names)} selected modules ran during the forward pass, so there is "
            f"nothing to capture; selected: {names[:8]}. Choose modules that the forward pass "
            f"calls (as module(x), not module.forward(x)).")
    silent = [name for name in names if name not in outputs]
    named = [name for name in silent if name in exact]
    if named:
        raise UnknownOptionError(
            f"layers names {named} but {'that module' if len(named) == 1 else 'these modules'} "
            f"never ran during the forward pass, so there is nothing to capture. Choose "
            f"modules that the forward pass calls (as module(x), not module.forward(x)).")
    if silent:
        shown = ", ".join(repr(name) for name in silent[:8])
        more = f", ... ({len(silent)} in all)" if len(silent) > 8 else ""
        warnings.warn(f"{len(silent)} selected modules never ran during the forward pass and "
                      f"are left out: {shown}{more}.", UserWarning, stacklevel=3)
