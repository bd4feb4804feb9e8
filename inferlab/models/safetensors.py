"""A small reader of the safetensors format: weights as NumPy arrays, with no pickle.

A ``.safetensors`` file is three things back to back::

    8 bytes      N, the header length, unsigned little-endian
    N bytes      a JSON header: {"name": {"dtype": "F32", "shape": [384, 1536],
                                          "data_offsets": [begin, end]}, ...,
                                 "__metadata__": {...}}          (metadata optional)
    the rest     the raw tensor bytes, little-endian, C order; offsets count from here

Nothing in it can run code (unlike a pickled ``.pt`` / ``.bin`` checkpoint, which unpickles
arbitrary Python objects), so reading it is ``json.loads`` plus ``np.frombuffer``.

    >>> weights = load(path, sha256="53aa51...")   # dict name -> read-only np.ndarray
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import numpy as np

from inferlab.errors import InferlabError

__all__ = ["DTYPES", "SafetensorsError", "load", "loads", "read_header", "sha256_of"]

# safetensors dtype name -> NumPy dtype (all little-endian). BF16 has no NumPy dtype: it is
# read as its 16 bits and widened to float32 (bf16 is the top half of a float32).
DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
MAX_HEADER = 100 * 2**20  # the format's own limit (100 MB): a wild length means a corrupt file


class SafetensorsError(InferlabError, ValueError):
    """A safetensors file is truncated, corrupt, not what was expected (checksum), or unreadable."""


def sha256_of(data: bytes | memoryview) -> str:
    """Hex sha256 of some bytes (hashlib releases the GIL and runs at ~1-2 GB/s)."""
    return hashlib.sha256(data).hexdigest()


def _parse_header(data: memoryview, name: str) -> tuple[dict, int]:
    """The JSON header and the offset where the tensor bytes begin."""
    if len(data) < 8:
        raise SafetensorsError(f"{name}: {len(data)} bytes is too short for a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER or 8 + n > len(data):
        raise SafetensorsError(
            f"{name}: header length {n} does not fit in a file of {len(data)} bytes "
            "(truncated or not a safetensors file)"
        )
    try:
        header = json.loads(bytes(data[8 : 8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{name}: the JSON header is corrupt ({e})") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{name}: the header must be a JSON object; got {type(header)}")
    return header, 8 + n


def _tensor(key: str, info, body: memoryview, name: str) -> np.ndarray:
    """One tensor as a read-only array viewing ``body`` (no copy), checked against its entry."""
    try:
        dtype = DTYPES[info["dtype"]]
        shape = tuple(int(d) for d in info["shape"])
        begin, end = (int(o) for o in info["data_offsets"])
    except (KeyError, TypeError, ValueError):
        raise SafetensorsError(
            f"{name}: tensor {key!r} has a bad header entry {info!r} (needs dtype among "
            f"{sorted(DTYPES)}, shape and data_offsets)"
        ) from None
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if min(shape, default=0) < 0 or not 0 <= begin <= end <= len(body) or end - begin != size:
        raise SafetensorsError(
            f"{name}: tensor {key!r} of shape {shape} {info['dtype']} needs {size} bytes; its "
            f"offsets [{begin}, {end}) do not fit the {len(body)} data bytes (truncated file?)"
        )
    array = np.frombuffer(body, dtype=dtype, count=size // dtype.itemsize, offset=begin)
    array = array.reshape(shape)
    if info["dtype"] == "BF16":  # widen: the 16 bits become the high half of a float32
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array


def loads(data: bytes, sha256: str | None = None, name: str = "<bytes>") -> dict[str, np.ndarray]:
    """Parse safetensors bytes -> {tensor name: array}; arrays view ``data`` (read-only).

    sha256: the expected hex digest of ``data``; a mismatch raises :class:`SafetensorsError`
    before anything is parsed (a corrupt or different file must not load silently).
    """
    if sha256 is not None:
        actual = sha256_of(data)
        if actual != sha256.lower():
            raise SafetensorsError(
                f"{name}: sha256 is {actual}, expected {sha256.lower()}: the file is corrupt or "
                "a different version (reinstall the package that ships it)"
            )
    view = memoryview(data)
    header, start = _parse_header(view, name)
    body = view[start:]
    return {
        key: _tensor(key, info, body, name) for key, info in header.items() if key != "__metadata__"
    }


def load(path, sha256: str | None = None) -> dict[str, np.ndarray]:
    """Read a ``.safetensors`` file -> {tensor name: array}, verifying ``sha256`` if given."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SafetensorsError(f"cannot read {path}: {e.strerror or e}") from None
    return loads(data, sha256=sha256, name=str(path))


def read_header(path) -> dict:
    """Only the JSON header of a file (names, dtypes, shapes, offsets): cheap, reads N+8 bytes."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(8)
            if len(head) == 8:
                head += f.read(min(struct.unpack("<Q", head)[0], MAX_HEADER))
    except OSError as e:
        raise SafetensorsError(f"cannot read {path}: {e.strerror or e}") from None
    view = memoryview(head)
    if len(view) >= 8:  # let _parse_header judge the length against the whole file
        (n,) = struct.unpack("<Q", view[:8])
        if 8 + n > path.stat().st_size:
            raise SafetensorsError(
                f"{path}: header length {n} does not fit in a file of {path.stat().st_size} "
                "bytes (truncated or not a safetensors file)"
            )
    return _parse_header(view, str(path))[0]
