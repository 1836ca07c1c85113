"""A forward hook that replaces one layer's output (SVCCA sec. 2.1, 4.4: projecting a layer
onto its top directions inside the network's forward pass)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import UnknownOptionError

__all__ = ["named_layer", "replaced_output"]


def named_layer(model: Any, layer: Any) -> Any:
    """The submodule of `model` called `layer` (a name of ``model.named_modules()``)."""
    if not isinstance(layer, str):
        raise UnknownOptionError(f"layer must be a layer name (str); got {type(layer).__name__} {layer!r:.60}.")
    modules = dict(model.named_modules()) if hasattr(model, "named_modules") else None
    if modules is None:
        raise UnknownOptionError(f"model must be a torch.nn.Module; got {type(model).__name__}.")
    if layer not in modules or layer == "":
        names = [name for name in modules if name]
        listed = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        raise UnknownOptionError(f"the model has no layer {layer!r}; its layers are {listed}. "
                                 f"Pass one of these names (model.named_modules()).")
    return modules[layer]


@contextmanager
def replaced_output(model: Any, layer: str, fn: Callable[[Any], Any]) -> Iterator[Any]:
    """Within the block, `layer`'s output is replaced by ``fn(output)`` in every forward pass.

    Parameters
    ----------
    model : torch.nn.Module
    layer : str
        A name from ``model.named_modules()``.
    fn : callable
        Receives the layer's output tensor and returns the tensor to pass on (same shape,
        or whatever the next layer accepts).

    Yields
    ------
    The layer's module. The hook is removed on exit, also after an exception.

    Examples
    --------
    >>> import torch, replens as rl
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU())
    >>> with rl.analyses.replaced_output(net, "0", lambda out: out * 0):
    ...     float(net(torch.ones(1, 3)).detach().sum())
    0.0
    """
    if not callable(fn):
        raise UnknownOptionError(f"fn must be a callable output -> new output; got {type(fn).__name__}.")
    module = named_layer(model, layer)
    handle = module.register_forward_hook(lambda _module, _inputs, output: fn(output))
    try:
        yield module
    finally:
        handle.remove()
