"""Array namespace, dtype and device policy.

One code path serves numpy and torch (CPU or CUDA) through array-api-compat: the namespace
of the inputs is the one the work runs in, on the inputs' device. Results handed back to the
caller are numpy float64 arrays or Python floats, whatever the backend.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace, device, is_numpy_array, is_torch_array

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


# The helpers below are the only places outside namespace_of / to_numpy that look at which
# array library an array belongs to; measures call them instead of branching themselves.


def namespace(*arrays: Array) -> Any:
    """The array namespace of arrays already in one backend (no conversion, unlike namespace_of)."""
    return array_namespace(*arrays)


def device_of(x: Array) -> Any:
    """The device `x` lives on ("cpu" for numpy), for creating arrays beside it."""
    return device(x)


def to_host(x: Array) -> np.ndarray:
    """A numpy array in host memory with the values and dtype of `x` (no float64 cast)."""
    if is_torch_array(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def to_device_like(reference: Array, array: Array) -> Array:
    """`array` in the backend and on the device of `reference`, dtype kept.

    A numpy `reference` gives a host numpy array (`array` itself when it already is one);
    a torch `reference` gives a tensor on its device, numpy input (0-d included) converted.
    """
    if not is_torch_array(reference):
        return to_host(array)
    import torch

    if is_torch_array(array):
        return array.to(reference.device)
    array = np.asarray(array)
    return torch.as_tensor(np.ascontiguousarray(array) if array.ndim else array,
                           device=reference.device)


def copy_array(x: Array) -> Array:
    """An independent copy of `x`, same backend, device and dtype."""
    return x.clone() if is_torch_array(x) else np.array(x, copy=True)


def nbytes(x: Array) -> int:
    """Memory held by the elements of `x`, in bytes."""
    if is_torch_array(x):
        return x.element_size() * x.nelement()
    return int(np.asarray(x).nbytes)


def has_real_dtype(x: Array) -> bool:
    """Whether `x` holds real numbers: a floating or integer dtype (bool and complex are not)."""
    if is_torch_array(x):
        import torch

        return x.dtype.is_floating_point or (not x.dtype.is_complex and x.dtype != torch.bool)
    return x.dtype.kind in "fiu"


def is_real_scalar(value: Any) -> bool:
    """Whether `value` is a real Python or numpy number (bool excluded)."""
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


def is_integer_scalar(value: Any) -> bool:
    """Whether `value` is a Python or numpy integer (bool excluded)."""
    return not isinstance(value, bool) and isinstance(value, (int, np.integer))


def real_fft(xp: Any, x: Array, axes: tuple[int, ...]) -> Array:
    """Real-input FFT over `axes` of (a contiguous copy of) `x`: scipy.fft for numpy, else xp.fft."""
    if is_numpy_array(x):
        import scipy.fft

        return scipy.fft.rfftn(np.ascontiguousarray(x), axes=axes)
    return xp.fft.rfftn(x.contiguous(), axes=axes)


def complex_from_parts(real: Array, imag: Array) -> Array:
    """The complex array ``real + i imag`` in the backend of the (real) parts."""
    if is_torch_array(real):
        import torch

        return torch.complex(real, imag)
    return real + 1j * imag


def real_view(x: Array) -> Array:
    """A complex (..., n, p) array as real (..., n, 2p), columns re, im interleaved; no copy
    when `x` is contiguous."""
    if is_torch_array(x):
        import torch

        real = torch.view_as_real(x.contiguous())
        return real.reshape(*x.shape[:-1], 2 * x.shape[-1])
    x = np.ascontiguousarray(x)
    return x.view(x.real.dtype)


def to_device(x: Array, device: Any) -> Array:
    """`x` on `device` ("cpu", "cuda", "cuda:1", a torch.device); None leaves it where it is.

    A numpy array sent to a device other than the host becomes a torch tensor there.
    """
    if device is None:
        return x
    if is_torch_array(x):
        return x.to(device)
    if str(device) == "cpu":
        return x
    try:
        import torch
    except ImportError as exc:
        raise UnknownOptionError(f"device={device!r} needs torch (pip install 'replens[torch]'); "
                                 f"without it everything runs on the host with numpy (device=None).") from exc
    try:
        target = torch.device(device)
        return torch.from_numpy(np.ascontiguousarray(x)).to(target)
    except (RuntimeError, AssertionError) as exc:
        raise UnknownOptionError(f"device={device!r} is not available here ({exc}); use device=None "
                                 f"or 'cpu', or a device torch can see.") from exc


def as_float64(x: Array) -> Array:
    """`x` in float64, same backend and device (no copy when it already is)."""
    if is_torch_array(x):
        import torch

        return x.to(torch.float64)
    return np.asarray(x, dtype=np.float64)


def matmul_into(x: Array, y: Array, out: Array, shape: tuple[int, int]) -> None:
    """``out[:] = (x @ y).reshape(-1)``; numpy writes the product in place, without a temporary."""
    if is_numpy_array(out):
        np.matmul(x, y, out=out.reshape(shape))
    else:
        out[...] = (x @ y).reshape(-1)


def median(values: Array) -> float:
    """Median of all entries; the mean of the two middle ones when their count is even."""
    if is_numpy_array(values):
        return float(np.median(values))
    ordered = values.reshape(-1).sort().values
    m = ordered.shape[0]
    return 0.5 * (float(ordered[(m - 1) // 2]) + float(ordered[m // 2]))


def real_scalar(value: Any) -> float | None:
    """`value` as a float when it is one real number (a Python/numpy scalar or a 0-d real
    array of any backend, bool excluded), else None."""
    if is_real_scalar(value):
        return float(value)
    shape = getattr(value, "shape", None)
    if shape is not None and tuple(shape) == () and has_real_dtype(value) and "bool" not in str(value.dtype):
        return float(to_numpy(value))
    return None


def release_rows(x: Array, start: int, stop: int) -> None:
    """Let the kernel drop rows ``start:stop`` of a read-only ``np.memmap`` from this process's
    resident memory, once they have been read (they stay in the page cache, and are read again
    if used again). Anything else, or a platform without ``madvise``, is left alone.

    Without it, every page of a memory-mapped activation cache that a pass reads stays mapped
    and counts in the process's resident set until the kernel needs the memory.
    """
    import mmap

    if not isinstance(x, np.memmap) or getattr(x, "mode", None) != "r" or stop <= start:
        return
    advise = getattr(mmap, "MADV_DONTNEED", None)
    base = x
    while base is not None and not isinstance(base, mmap.mmap):
        base = getattr(base, "base", None)
    if advise is None or base is None or x.ndim < 1 or x.strides[0] <= 0:
        return
    try:
        origin = np.frombuffer(base, dtype=np.uint8).ctypes.data
        begin = x.ctypes.data + start * x.strides[0] - origin
        end = min(x.ctypes.data + stop * x.strides[0] - origin, len(base))
        begin -= begin % mmap.PAGESIZE
        if end > begin >= 0:
            base.madvise(advise, begin, end - begin)
    except (AttributeError, OSError, ValueError, TypeError):
        return
