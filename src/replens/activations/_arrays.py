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

from ..errors import DtypeError, ReplensError

__all__ = ["as_host_array", "check_storable_dtype", "check_fits_dtype", "overflow_of", "crc32_of",
           "read_npy_from_zip", "MAX_COMPRESSION_RATIO"]


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


def overflow_of(array: np.ndarray, target: np.dtype) -> float | None:
    """The largest finite magnitude in `array` if casting it to the float dtype `target` would
    make it infinite, else None. Costs one pass only when `target` is narrower than the data."""
    target = np.dtype(target)
    if target.kind != "f" or array.dtype.kind not in "iuf" or array.size == 0:
        return None
    if array.dtype.kind == "f" and array.dtype.itemsize <= target.itemsize:
        return None
    limit = float(np.finfo(target).max)
    if array.dtype.kind in "iu" and max(abs(int(np.iinfo(array.dtype).min)), int(np.iinfo(array.dtype).max)) <= limit:
        return None
    magnitude = np.abs(array, dtype=np.float64) if array.dtype.kind in "iu" else np.abs(array)
    largest = float(np.max(magnitude, where=np.isfinite(magnitude), initial=0.0))
    # float rounding: values up to the largest finite plus half an ulp still round to it
    with np.errstate(over="ignore"):
        return largest if np.isinf(np.asarray(largest).astype(target)) else None


def check_fits_dtype(label: str, array: np.ndarray, target: np.dtype) -> None:
    """Raise DtypeError if storing `array` as `target` would turn finite values into inf."""
    largest = overflow_of(array, target)
    if largest is not None:
        target = np.dtype(target)
        raise DtypeError(
            f"{label} holds values up to {largest:.6g} in magnitude, beyond {target}'s largest "
            f"{float(np.finfo(target).max):.6g}: storing them as {target} would make them infinite. "
            f"Store the layer as float32 (or float64), or rescale it first.")


def crc32_of(array: np.ndarray) -> str:
    """``"crc32:<8 hex digits>"`` of an array's values: its bytes in C order, little-endian
    (so the same values give the same checksum on any machine), 16 MiB at a time."""
    import zlib

    flat = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).reshape(-1).view(np.uint8)
    value = 0
    for offset in range(0, flat.size, 1 << 24):
        value = zlib.crc32(flat[offset:offset + (1 << 24)], value)
    return f"crc32:{value:08x}"


# The largest ratio of uncompressed to compressed size deflate can reach is about 1032:1; a
# zip entry or an HDF5 dataset declaring more than this many times what it stores is a lie
# (a decompression bomb, or a damaged header), refused before any memory is allocated.
MAX_COMPRESSION_RATIO = 1100


def read_npy_from_zip(archive: Any, info: Any, label: str, damaged: Any) -> np.ndarray:
    """The array in the .npy entry `info` of the open zipfile `archive`, read safely.

    Its header is parsed first and the size it declares checked against the entry's size
    (and the entry's size against its compressed size, see ``MAX_COMPRESSION_RATIO``) before
    any memory is allocated; object dtypes are refused (nothing is unpickled); the zip
    CRC-32 of the entry is checked as its last byte is read. `damaged(detail)` makes the
    exception raised for a damaged entry; `label` names the entry in a DtypeError.
    """
    import math
    import zipfile

    fmt = np.lib.format
    if info.compress_type != zipfile.ZIP_STORED and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
        raise damaged(f"the entry {info.filename!r} declares {info.file_size} bytes from {info.compress_size} "
                      f"compressed, more than deflate can produce (a decompression bomb, or a damaged "
                      f"directory); refused before reading")
    try:
        with archive.open(info) as stream:
            version = fmt.read_magic(stream)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(stream)
            elif version == (2, 0):
                shape, fortran, dtype = fmt.read_array_header_2_0(stream)
            else:
                raise damaged(f"the entry {info.filename!r} has .npy format version {version}, which replens "
                              f"does not read")
            if dtype.hasobject:
                raise DtypeError(
                    f"{label} is an object array, which could only be read by unpickling it, and replens "
                    f"never unpickles; save numeric arrays instead (array.astype('float32')).")
            check_storable_dtype(label, dtype)
            header = stream.tell()
            count = math.prod(shape)
            declared = count * dtype.itemsize
            if header + declared != info.file_size:
                raise damaged(f"the entry {info.filename!r} declares shape {shape} of {dtype} ({declared} bytes) "
                              f"but holds {info.file_size - header} bytes of data")
            flat = np.empty(count, dtype=dtype)
            view = memoryview(flat.view(np.uint8)) if count else memoryview(b"")
            filled = 0
            while filled < declared:
                got = stream.readinto(view[filled:])
                if not got:
                    raise damaged(f"the entry {info.filename!r} ends after {filled} of {declared} bytes of data")
                filled += got
            if stream.read(1):
                raise damaged(f"the entry {info.filename!r} holds more bytes than its header declares")
    except ReplensError:
        raise
    except Exception as exc:  # a damaged entry fails in many ways: BadZipFile, zlib.error, SyntaxError...
        raise damaged(f"the entry {info.filename!r}: {type(exc).__name__}: {exc}") from exc
    return flat.reshape(shape[::-1]).transpose() if fortran else flat.reshape(shape)
