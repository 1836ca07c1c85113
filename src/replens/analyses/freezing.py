"""Freeze training: freeze the lower layers one after another while the rest keeps training.

SVCCA paper sec. 4.2 (Fig 5): since networks converge bottom up, "each layer is frozen at a
fraction (layer number/total layers) of total training time", saving the gradient work of
the frozen layers and, the paper finds, helping generalisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._backend import is_integer_scalar
from .._validate import check_option, check_positive_int
from ..errors import ReplensError, UnknownOptionError

__all__ = ["FreezeSchedule", "REGIMES"]

REGIMES = ("linear", "none")


class FreezeSchedule:
    """Freezes layer i (1-based, of L) at step ``floor(i * total_steps / L)``: the "linear regime".

    Call :meth:`step` with the current step at the start of every training iteration,
    before the forward pass. Freezing a layer turns off ``requires_grad`` of its parameters
    and drops their ``.grad`` (so that no optimiser, momentum or weight decay moves them
    again), and fixes its normalisation statistics: every batch-norm (or other
    running-statistics norm) module inside it is put in eval mode and kept there by a
    forward pre-hook, even when ``model.train()`` is called later. Freezing is one-way.
    With L layers the last one freezes at ``total_steps``, i.e. it trains throughout.

    Parameters
    ----------
    model : torch.nn.Module
        The network being trained.
    layers : sequence of str or torch.nn.Module
        The units to freeze in depth order (conv layers, or residual blocks as the paper
        does for ResNets), as names from ``model.named_modules()`` or the modules
        themselves; none inside another. Parameters outside them always train.
    total_steps : int
        Training iterations planned.
    regime : {"linear", "none"}, default "linear"
        ``"none"`` never freezes (the baseline run of a paired comparison).

    Attributes
    ----------
    layers : tuple of str
        The layers' names, in order.
    freeze_steps : dict str -> int
        The step at which each layer freezes (``total_steps + 1`` under ``"none"``, never).
    frozen : tuple of str
        The layers frozen so far.

    Examples
    --------
    >>> import torch, replens as rl
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> fs = rl.analyses.FreezeSchedule(net, ["0", "2"], total_steps=10)
    >>> fs.freeze_steps
    {'0': 5, '2': 10}
    >>> fs.step(5), net[0].weight.requires_grad
    (('0',), False)
    """

    def __init__(self, model: Any, layers: Sequence[Any], total_steps: int, regime: str = "linear") -> None:
        import torch

        if not isinstance(model, torch.nn.Module):
            raise UnknownOptionError(f"model must be a torch.nn.Module; got {type(model).__name__}.")
        check_option("regime", regime, REGIMES)
        self.total_steps = check_positive_int("total_steps", total_steps)
        self.regime = regime
        self._model = model
        self._modules = _named_layers(model, layers)
        self.layers = tuple(self._modules)
        count = len(self.layers)
        self.freeze_steps = {name: (i * self.total_steps) // count if regime == "linear" else self.total_steps + 1
                             for i, name in enumerate(self.layers, start=1)}
        self._parameters = {name: _trainable(module) for name, module in self._modules.items()}
        self._total_parameters = sum(p.numel() for p in _unique(model.parameters()) if p.requires_grad)
        self._frozen: list[str] = []
        self._hooks: list[Any] = []
        self._last_step: int | None = None

    @property
    def frozen(self) -> tuple[str, ...]:
        return tuple(self._frozen)

    def step(self, t: int) -> tuple[str, ...]:
        """Freeze every layer due by step `t` (an int >= 0, never below the last one given).

        Returns the layers this call froze. Also puts the frozen layers' normalisation
        modules back in eval mode, whatever ``model.train()`` did since.
        """
        if not is_integer_scalar(t) or t < 0:
            raise UnknownOptionError(f"t must be a step, an integer >= 0; got {t!r}.")
        t = int(t)
        if self._last_step is not None and t < self._last_step:
            raise UnknownOptionError(
                f"steps must not go back: step({t}) after step({self._last_step}). Freezing is one-way; make "
                f"a new FreezeSchedule for a new run.")
        self._last_step = t
        newly = [name for name in self.layers if name not in self._frozen and self.freeze_steps[name] <= t]
        for name in newly:
            self._freeze(name)
        for name in self._frozen:
            for module in _normalisers(self._modules[name]):
                module.train(False)
        return tuple(newly)

    def backward_fraction_saved(self) -> float:
        """Fraction of the parameter-gradient work of the planned run that freezing skips.

        ``sum_i P_i (total_steps - s_i) / (P total_steps)``, with ``P_i`` the trainable
        parameters of layer i, ``s_i`` its freeze step and ``P`` every trainable parameter
        of the model: weight-gradient work counted as proportional to parameter count (exact
        for dense layers; for convolutions it also scales with the output size, and the
        backward pass through frozen layers below the lowest trained one is saved too, so
        this is a lower bound on the real saving there).
        """
        if self._total_parameters == 0:
            raise ReplensError("the model has no trainable parameters, so no gradient work to save.")
        skipped = sum(self._parameters[name] * max(self.total_steps - self.freeze_steps[name], 0)
                      for name in self.layers)
        return skipped / (self._total_parameters * self.total_steps)

    def remove_hooks(self) -> None:
        """Remove the pre-hooks that keep frozen normalisation modules in eval mode."""
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()

    def __repr__(self) -> str:
        return (f"FreezeSchedule({len(self.layers)} layers, total_steps={self.total_steps}, "
                f"regime={self.regime!r}, frozen={list(self._frozen)})")

    def _freeze(self, name: str) -> None:
        module = self._modules[name]
        for parameter in module.parameters():
            parameter.requires_grad_(False)
            parameter.grad = None
        for norm in _normalisers(module):
            norm.train(False)
            self._hooks.append(norm.register_forward_pre_hook(_keep_eval))
        self._frozen.append(name)


def _keep_eval(module: Any, args: Any) -> None:
    if module.training:
        module.train(False)


def _normalisers(module: Any) -> list[Any]:
    """Modules inside `module` (itself included) that keep running statistics."""
    from torch.nn.modules.batchnorm import _NormBase

    return [m for m in module.modules() if isinstance(m, _NormBase) and m.track_running_stats]


def _unique(parameters: Any) -> list[Any]:
    seen: dict[int, Any] = {}
    for parameter in parameters:
        seen.setdefault(id(parameter), parameter)
    return list(seen.values())


def _trainable(module: Any) -> int:
    return sum(p.numel() for p in _unique(module.parameters()) if p.requires_grad)


def _named_layers(model: Any, layers: Sequence[Any]) -> dict[str, Any]:
    import torch

    if isinstance(layers, (str, torch.nn.Module)) or not isinstance(layers, Sequence) or not layers:
        raise UnknownOptionError(f"layers must be a non-empty list of module names or modules, in depth order; "
                                 f"got {layers!r:.80}.")
    by_name = dict(model.named_modules())
    by_identity = {id(module): name for name, module in by_name.items()}
    named: dict[str, Any] = {}
    for layer in layers:
        if isinstance(layer, torch.nn.Module):
            if id(layer) not in by_identity:
                raise UnknownOptionError(f"layers holds a {type(layer).__name__} that is not a module of model.")
            name = by_identity[id(layer)]
        elif isinstance(layer, str) and layer in by_name:
            name = layer
        else:
            listed = ", ".join(repr(n) for n in list(by_name)[1:13])
            raise UnknownOptionError(f"layers holds {layer!r}, which is not a module name of model; its modules "
                                     f"include {listed}.")
        if name in named:
            raise UnknownOptionError(f"layers lists {name!r} twice; give each layer once.")
        named[name] = by_name[name]
    _check_disjoint(named)
    return named


def _check_disjoint(named: dict[str, Any]) -> None:
    for outer_name, outer in named.items():
        inner_ids = {id(m) for m in outer.modules()} - {id(outer)}
        for inner_name, inner in named.items():
            if id(inner) in inner_ids or (inner_name != outer_name and inner is outer):
                raise UnknownOptionError(
                    f"layers {outer_name!r} and {inner_name!r} overlap ({inner_name!r} is inside {outer_name!r}); "
                    f"list units that do not contain each other.")
