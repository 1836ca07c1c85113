"""Array namespace, dtype and device policy.

One code path serves numpy and torch (CPU or CUDA) through array-api-compat: the namespace
of the inputs is the one the work runs in, on the inputs' device. Results handed back to the
caller are numpy float64 arrays or Python floats, whatever the backend.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace, is_numpy_array, is_torch_array

from .errors import DtypeError, UnknownOptionError

Array = Any

COMPUTE_DTYPES = ("float64", "float32")


def namespace_of(*arrays: Array) -> tuple[Any, list[Array]]:
    """The array namespace shared by `arrays`, converting numpy arrays to torch if needed.

    A numpy array paired with a torch tensor is moved to the tensor's device, so that a
    numpy X and a CUDA Y are compared on the GPU. Lists and other array-likes become numpy.
    Tensors are detached: no autograd graph is built through a measurement.
    """
    converted = [a.detach() if is_torch_array(a) else a if is_numpy_array(a) else _as_numpy(a)
                 for a in arrays]
    torch_arrays = [a for a in converted if is_torch_array(a)]
    if torch_arrays and len(torch_arrays) < len(converted):
        import torch

        device = torch_arrays[0].device
        converted = [a if is_torch_array(a) else torch.from_numpy(np.ascontiguousarray(a)).to(device)
                     for a in converted]
    return array_namespace(*converted), converted


def _as_numpy(value: Any) -> np.ndarray:
    try:
        return np.asarray(value)
    except Exception as exc:  # numpy's own message says what could not be converted
        raise DtypeError(f"expected an array (numpy array or torch tensor); could not convert "
                         f"{type(value).__name__}: {exc}") from exc


def resolve_dtype(xp: Any, dtype: Any) -> Any:
    """The floating dtype work runs in: float64 unless the caller asks for float32."""
    if dtype is None:
        return xp.float64
    name = getattr(dtype, "__name__", None) or str(dtype)
    name = name.replace("torch.", "").replace("numpy.", "")
    if name not in COMPUTE_DTYPES:
        raise UnknownOptionError(
            f"dtype must be one of {COMPUTE_DTYPES} (or None for float64); got {dtype!r}.")
    return getattr(xp, name)


def to_numpy(x: Array) -> np.ndarray:
    """A float64 numpy copy of `x`, from whatever backend and device it lives on."""
    if is_torch_array(x):
        return x.detach().to("cpu").double().numpy()
    return np.asarray(x, dtype=np.float64)


def to_float(x: Array) -> float:
    """A Python float from a 0-d array of any backend."""
    return float(to_numpy(x))


def machine_epsilon(xp: Any, dtype: Any) -> float:
    return float(np.finfo(np.float32 if dtype == xp.float32 else np.float64).eps)
