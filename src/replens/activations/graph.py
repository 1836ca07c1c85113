"""Graph nodes: every operation of a model's forward pass, named, through torch.fx alone.

Forward hooks see module outputs only. Tracing the model with :mod:`torch.fx` also reaches
functional operations inside ``forward``: the addition of a residual branch, a
``torch.flatten``, a ``view``. :func:`graph_node_names` lists the nodes of the eval-mode
graph, and ``extract(..., graph_nodes=True)`` captures the chosen ones through
:func:`recording_runner`. torchvision is not needed.

Node names follow torchvision's feature-extraction convention:

- a call of a leaf module (every module of ``torch.nn``, Sequential excepted: torch.fx's
  standard rule) is named by the module's dotted path, ``"layer1.0.conv1"``;
- any other operation is named by the path of the module whose ``forward`` ran it and the
  operation's name, ``"layer1.0.add"`` (``out += identity``), or the operation's name
  alone at the top level, ``"flatten"``; the model's inputs are named by their arguments
  (``"x"``);
- a name given again within one module gets ``_1``, ``_2``, ... in execution order: the
  second call of a block's ReLU is ``"layer1.0.relu_1"``.

The names are listed in execution order (the graph's order). One difference from
torchvision: a module whose own name ends in ``_<digits>`` keeps it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ReplensError
from ._runtime import Record, Run, check_model, import_torch, restored_modes

if TYPE_CHECKING:
    import torch
    import torch.fx

__all__ = ["graph_node_names", "TracedGraph", "trace", "recording_runner"]

# torch.fx numbers repeated operation names across the whole graph ("add", "add_1", ...);
# the names here are numbered within each module instead, so that number is dropped first.
_FX_NUMBER = re.compile(r"_[0-9]+$")
# Attributes torch.fx sets on the traced model for constants: "_tensor_constant0", ...
_FX_CONSTANT = re.compile(r"^_\w*(?:constant|obj)_?[0-9]+$")


def graph_node_names(model: torch.nn.Module) -> list[str]:
    """The names of the nodes of `model`'s eval-mode torch.fx graph, in execution order.

    These are the names that ``extract(model, data, layers=..., graph_nodes=True)`` matches
    its `layers` against.

    Parameters
    ----------
    model : torch.nn.Module
        The network. It is traced in eval mode; every module's train/eval flag is restored
        afterwards.

    Returns
    -------
    list of str
        Node names: leaf modules by their path (``"layer1.0.conv1"``), other operations by
        the path of the module that ran them and the operation (``"layer1.0.add"``,
        ``"flatten"``), repeats within a module numbered ``_1``, ``_2``, ...

    Raises
    ------
    ReplensError
        `model` is not a torch module, or torch.fx cannot trace it (control flow that
        depends on the input data).

    Examples
    --------
    >>> import torch
    >>> from replens.activations import graph_node_names
    >>> class Residual(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = torch.nn.Linear(4, 4)
    ...     def forward(self, x):
    ...         return torch.relu(self.fc(x) + x)
    >>> graph_node_names(Residual())
    ['x', 'fc', 'add', 'relu']
    """
    check_model(import_torch(), model)
    with restored_modes(model):
        return list(trace(model).nodes)


@dataclass
class TracedGraph:
    """A model's torch.fx graph, with its named nodes.

    Attributes
    ----------
    graph : torch.fx.Graph
        The graph, traced in the mode the model was in.
    nodes : dict of str to torch.fx.Node
        Node name -> node, in execution order. Nodes that torch.fx creates without a source
        operation (the output, parameters read by functional code) have no name.
    constants : dict of str to object
        Constants that the forward pass creates (``torch.tensor([...])`` in ``forward``),
        which torch.fx stores as attributes of the model while tracing; they are taken off
        the model again and kept here for the graph's code.
    """

    graph: torch.fx.Graph
    nodes: dict[str, torch.fx.Node]
    constants: dict[str, Any] = field(default_factory=dict)


def trace(model: torch.nn.Module) -> TracedGraph:
    """Trace `model` symbolically, in its current train/eval mode, and name its nodes.

    Raises ReplensError when torch.fx cannot trace it, e.g. for control flow that depends on
    the values or shapes of the inputs.
    """
    tracer = _scoped_tracer_class()()
    before = set(vars(model))
    try:
        graph = tracer.trace(model)
    except Exception as error:  # TraceError, TypeError, RuntimeError ... from user code
        raise ReplensError(
            f"graph_nodes=True needs a model that torch.fx can trace symbolically, and tracing "
            f"{type(model).__name__} failed ({type(error).__name__}: {str(error)[:300]}). "
            f"This happens when forward has control flow that depends on the input data "
            f"(`if x.sum() > 0`, loops over a tensor's values). Use graph_nodes=False to "
            f"capture module outputs with forward hooks instead.") from error
    finally:
        constants = {key: vars(model).pop(key) for key in set(vars(model)) - before
                     if _FX_CONSTANT.match(key)}
    return TracedGraph(graph, {name: node for node, name in tracer.node_names.items()},
                       constants)


@contextmanager
def recording_runner(model: torch.nn.Module, traced: TracedGraph, names: list[str],
                     record: Record) -> Iterator[Run]:
    """A runnable copy of the graph that calls ``record(name, name, value)`` for each node.

    Each named node is recorded right after it is computed, before any later in-place
    operation (``ReLU(inplace=True)``) can overwrite its value; nodes after the last recorded
    one are not run. The graph is rewritten on `traced.graph` and executed by a
    ``torch.fx.GraphModule`` that shares `model`'s submodules.

    Yields
    ------
    callable
        ``run(args, kwargs) -> names``: one forward pass over a batch, returning the recorded
        node names in the order they were recorded.
    """
    import torch.fx

    graph = traced.graph
    _insert_records(graph, [traced.nodes[name] for name in names], names, record)
    vars(model).update(traced.constants)  # the GraphModule copies them from the model ...
    try:
        module = torch.fx.GraphModule(model, graph, class_name=f"{type(model).__name__}Nodes")
    finally:
        for key in traced.constants:  # ... which is left as it was
            vars(model).pop(key, None)
    recorded = list(names)

    def run(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str]:
        module(*args, **kwargs)
        return recorded

    yield run


def _insert_records(graph: torch.fx.Graph, nodes: list[torch.fx.Node], names: list[str],
                    record: Record) -> None:
    """Follow each node with a call of `record`, drop the nodes after the last, return None."""

    def record_node(name: str, value: Any) -> None:
        # A named module-level-like function: the code torch.fx generates can call it, which
        # it cannot do for any callable (a lambda, say).
        record(name, name, value)

    last = None
    for node, name in zip(nodes, names):
        with graph.inserting_after(node):
            last = graph.call_function(record_node, (name, node))
    output = next(node for node in reversed(graph.nodes) if node.op == "output")
    output.args = (None,)
    order = list(graph.nodes)
    start = order.index(last) + 1 if last is not None else len(order)
    for node in reversed(order[start:]):
        if node is not output:  # nothing recorded depends on what runs after the last record
            graph.erase_node(node)
    graph.lint()


@functools.cache
def _scoped_tracer_class() -> type:
    """A torch.fx.Tracer that names each node by the module scope it was created in.

    Built on first use, so that importing replens does not import torch.
    """
    import torch.fx

    class ScopedTracer(torch.fx.Tracer):
        """Tracks the dotted path of the module being traced through; names every node."""

        def __init__(self) -> None:
            super().__init__()
            self.module_path = ""  # the module whose forward is being traced ("": the root)
            self.node_names: dict[torch.fx.Node, str] = {}
            self.counts: dict[str, int] = {}
            self.taken: set[str] = set()

        def call_module(self, m: torch.nn.Module, forward: Callable[..., Any],
                        args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            outer, self.module_path = self.module_path, self.path_of_module(m)
            try:
                return super().call_module(m, forward, args, kwargs)
            finally:
                self.module_path = outer

        def create_proxy(self, kind: str, target: Any, args: tuple[Any, ...],
                         kwargs: dict[str, Any], *rest: Any, **options: Any) -> Any:
            proxy = super().create_proxy(kind, target, args, kwargs, *rest, **options)
            base = _base_name(self.module_path, proxy.node)
            self.node_names[proxy.node] = self._unique(base)
            return proxy

        def _unique(self, base: str) -> str:
            count = self.counts.get(base, 0)
            name = base if count == 0 else f"{base}_{count}"
            while name in self.taken:  # a module itself named like a repeat, "relu_1"
                count += 1
                name = f"{base}_{count}"
            self.counts[base] = count + 1
            self.taken.add(name)
            return name

    return ScopedTracer


def _base_name(scope: str, node: torch.fx.Node) -> str:
    """A node's name before numbering: the module path, or scope + operation name."""
    if node.op == "call_module":
        return str(node.target)
    operation = _FX_NUMBER.sub("", node.name)
    return f"{scope}.{operation}" if scope else operation
