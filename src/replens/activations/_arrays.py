"""Arrays as they are stored: on the host, in a dtype numpy has, and only of real numbers or bools.

Shared by :mod:`.files` (activation files) and :mod:`.cache` (cache folders), below both of
them. This is not :func:`replens._backend.to_numpy`, which makes a float64 copy for the
measures: :func:`as_host_array` keeps the value's dtype and copies only what must move.
torch is imported only when a tensor is given.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import is_torch_array

from ..errors import DtypeError

__all__ = ["as_host_array", "check_storable_dtype"]


def as_host_array(value: Any, label: str) -> np.ndarray:
    """`value` as a numpy array: tensors detached and moved to the CPU, bfloat16 widened.

    The dtype is kept otherwise (no float64 cast); an array is returned as it is, without a
    copy. `label` names the value in the DtypeError raised when it cannot be converted.
    """
    if is_torch_array(value):
        import torch

        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:
            value = value.float()  # numpy has no bfloat16; float32 holds every value exactly
        try:
            return value.numpy()
        except TypeError as exc:
            raise DtypeError(f"{label} has torch dtype {value.dtype}, which numpy cannot hold; "
                             f"convert it first, e.g. with .float().") from exc
    try:
        return np.asarray(value)
    except Exception as exc:
        raise DtypeError(f"{label} must be an array (numpy array or torch tensor); could not "
                         f"convert {type(value).__name__}: {exc}") from exc


def check_storable_dtype(label: str, dtype: np.dtype) -> None:
    """Raise DtypeError unless `dtype` is boolean, integer or real floating point."""
    if dtype.kind not in "biuf":
        raise DtypeError(
            f"{label} must hold real numbers or booleans (float16/32/64, integers, bool); got "
            f"dtype {dtype}. Convert it first, e.g. array.astype('float32'); objects and strings "
            f"are never stored, so that loading never unpickles anything.")
