"""The IDX format of MNIST and its relatives, read and written with full validation.

Layout (all integers big-endian)::

    bytes 0-1   0x00 0x00
    byte  2     dtype code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64
    byte  3     number of dimensions n
    4n bytes    the n dimension sizes, uint32 each
    payload     prod(dims) items of that dtype, row-major

Files may be gzip-compressed; compression is detected from the content (magic 1f 8b), not the name.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from layerwise.errors import DataError
from layerwise.memory import check_fits

DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("=") if dt.itemsize > 1 else dt: code for code, dt in DTYPES.items()}
GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: str | Path) -> bytes:
    """Return the uncompressed bytes of `path`, decompressing gzip when the content says so."""
    return decompress(read_stored(path), str(path))


def read_idx_bytes(path: str | Path) -> bytes:
    """The uncompressed bytes of the IDX file `path`, inflated no further than its header
    declares. An uncompressed file is read only once its header's declared size has been
    checked against the file's length and the memory budget."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(4 + 4 * 255)
            size = os.fstat(f.fileno()).st_size
    except FileNotFoundError:
        raise DataError(f"{path} does not exist.") from None
    except OSError as exc:
        raise DataError(f"{path} cannot be read: {exc.strerror or exc}.") from None
    if not head.startswith(GZIP_MAGIC):
        declared = _declared_size(head)
        if declared is not None and declared != size:
            what = "truncated" if size < declared else "longer than its header says"
            raise DataError(f"{path} is {what}: its header declares {declared:,} bytes, the "
                            f"file has {size:,}.")
        check_fits(size, f"reading {path}", DataError)
    return decompress_idx(read_stored(path), str(path))


def _declared_size(head: bytes) -> int | None:
    """The whole file's size an IDX header declares, or None if `head` is no IDX header."""
    if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in DTYPES or head[3] == 0:
        return None
    ndim = head[3]
    if len(head) < 4 + 4 * ndim:
        return None
    dims = np.frombuffer(head, dtype=">u4", count=ndim, offset=4)
    return 4 + 4 * ndim + math.prod(int(d) for d in dims) * DTYPES[head[2]].itemsize


def read_stored(path: str | Path) -> bytes:
    """Return the bytes of `path` as stored on disk, with a clear error if it cannot be read."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path} does not exist.") from None
    except OSError as exc:
        raise DataError(f"{path} cannot be read: {exc.strerror or exc}.") from None


def decompress(raw: bytes, source: str, limit: int | None = None) -> bytes:
    """Gunzip `raw` if it starts with the gzip magic; otherwise return it unchanged. With
    `limit`, inflating stops with an error past that many bytes (a small file that would
    inflate to gigabytes is refused before it is held in memory)."""
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        if limit is None:
            return gzip.decompress(raw)
        return _inflate_bounded(raw, source, limit)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(
            f"{source} is a damaged gzip file ({exc}); delete it and fetch it again."
        ) from None


def _inflate_bounded(raw: bytes, source: str, limit: int) -> bytes:
    out, size, rest = [], 0, raw
    while rest:  # one gzip member after another, as gzip.decompress reads them
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        chunk = inflater.decompress(rest, limit + 1 - size)
        size += len(chunk)
        out.append(chunk)
        if size > limit or inflater.unconsumed_tail:
            raise DataError(f"{source} inflates to more than {limit:,} bytes, more than the "
                            "data it should hold; it is not the expected file.")
        if not inflater.eof:
            raise EOFError("compressed file ended before the end-of-stream marker")
        rest = inflater.unused_data.lstrip(b"\0")
    return b"".join(out)


def decompress_idx(raw: bytes, source: str) -> bytes:
    """Gunzip an IDX file no further than the size its header declares: a small file that
    would inflate to gigabytes is refused before it is held in memory."""
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, 4 + 4 * 255)
    except zlib.error as exc:
        raise DataError(f"{source} is a damaged gzip file ({exc}); delete it and fetch it "
                        "again.") from None
    if len(head) < 4 or head[2] not in DTYPES:
        return decompress(raw, source, limit=len(raw) * 1100)  # parse_idx will say what is wrong
    ndim = head[3]
    dims = np.frombuffer(head, dtype=">u4", count=min(ndim, (len(head) - 4) // 4), offset=4)
    declared = 4 + 4 * ndim + math.prod(int(d) for d in dims) * DTYPES[head[2]].itemsize
    # A damaged header can declare more than any machine holds (up to 2^96 items): refused
    # against the memory budget before anything is inflated.
    check_fits(declared, f"inflating {source}", DataError)
    return decompress(raw, source, limit=min(declared, 2**62))


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode IDX bytes into a native-endian array, checking header and payload length."""
    if len(data) < 4:
        raise DataError(f"{source} is too short to be an IDX file ({len(data)} bytes).")
    if data[0] != 0 or data[1] != 0:
        raise DataError(
            f"{source} is not an IDX file: it starts with {data[:4].hex()} "
            "instead of the magic 0000xxyy."
        )
    code, ndim = data[2], data[3]
    if code not in DTYPES:
        raise DataError(f"{source} has unknown IDX dtype code 0x{code:02x}.")
    if ndim == 0:
        raise DataError(f"{source} declares zero dimensions.")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{source} is truncated inside its header.")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = DTYPES[code]
    expected = math.prod(dims) * dtype.itemsize  # Python ints: no overflow
    actual = len(data) - header
    if actual != expected:
        what = "truncated" if actual < expected else "longer than its header says"
        raise DataError(
            f"{source} is {what}: dimensions {dims} need {expected} payload bytes, "
            f"found {actual}."
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (raw or gzip) into a native-endian numpy array."""
    return parse_idx(read_idx_bytes(path), str(path))


def encode_idx(array: np.ndarray) -> bytes:
    """Encode an array (any dtype IDX supports, rank >= 1) as IDX bytes."""
    array = np.asarray(array)
    key = array.dtype.newbyteorder("=") if array.dtype.itemsize > 1 else array.dtype
    if key not in _CODES:
        raise DataError(f"IDX cannot hold dtype {array.dtype}; use one of uint8, int8, "
                        "int16, int32, float32, float64.")
    if array.ndim == 0 or array.ndim > 255:
        raise DataError(f"IDX needs 1 to 255 dimensions, got {array.ndim}.")
    code = _CODES[key]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=DTYPES[code]).tobytes()


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write `array` as IDX to `path`, gzip-compressed when `compress` (default: name ends .gz).

    The file is written to a temporary name beside `path` and renamed into place, so a reader
    never sees a half-written file.
    """
    from layerwise.data.files import atomic_write_bytes

    path = Path(path)
    data = encode_idx(array)
    if compress if compress is not None else path.suffix == ".gz":
        # mtime=0 makes the output byte-for-byte reproducible.
        data = gzip.compress(data, compresslevel=9, mtime=0)
    atomic_write_bytes(path, data)
    return path
