"""Pickles of numpy arrays, read without ever running code from the file.

Two datasets ship as pickles: CIFAR-10's python batches and the classic `mnist.pkl.gz`. Both were
written by Python 2 with numpy, so rebuilding them needs only numpy's array-rebuilding callables;
`SafeUnpickler` resolves exactly those (under numpy 1's and numpy 2's module names) and refuses
every other global before it is loaded, so a file that would run code is an error, not a risk.
"""

from __future__ import annotations

import importlib
import io
import pickle
import pickletools
import warnings

from layerwise.errors import DataError

# (module, name) pairs such a pickle may reference: how numpy 1.x and 2.x rebuild arrays.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"codec {encoding!r} is not allowed")
    return text.encode("latin1")


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle names a callable other than numpy's array rebuilding."""


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the numpy array-rebuilding globals in `_ALLOWED_GLOBALS`."""

    def find_class(self, module: str, name: str):
        if (module, name) == ("_codecs", "encode"):
            # Python 3 pickles bytes (protocol < 3) as _codecs.encode(text, "latin1").
            return _latin1_encode
        if (module, name) not in _ALLOWED_GLOBALS:
            raise RefusedGlobal(f"global {module}.{name} is not allowed")
        # numpy 2 renamed `numpy.core` to `numpy._core` (the old name is a deprecated alias);
        # numpy 1 has only the old name.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                owner = importlib.import_module(module.replace("numpy.core", "numpy._core"))
            except ImportError:
                owner = importlib.import_module(module)
        return getattr(owner, name)


# Objects a pickle of a few numpy arrays builds: MNIST's has 14 containers, CIFAR-10's batches
# a dict of four entries plus a list of 10,000 file names. A stream of millions of tiny objects
# (a few bytes each, so a small file) would take gigabytes as Python objects: refused unread.
MAX_OBJECTS = 100_000
_BUILDS = {"EMPTY_LIST", "EMPTY_DICT", "EMPTY_TUPLE", "EMPTY_SET", "LIST", "DICT", "TUPLE",
           "TUPLE1", "TUPLE2", "TUPLE3", "MARK", "FROZENSET", "REDUCE", "NEWOBJ", "NEWOBJ_EX",
           "OBJ", "INST", "BUILD", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "UNICODE",
           "SHORT_BINSTRING", "BINSTRING", "STRING", "SHORT_BINBYTES", "BINBYTES", "BINBYTES8",
           "BYTEARRAY8", "BININT", "BININT1", "BININT2", "LONG1", "LONG4", "INT", "LONG",
           "BINFLOAT", "FLOAT", "NONE", "NEWTRUE", "NEWFALSE", "DUP", "GET", "BINGET",
           "LONG_BINGET", "MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"}


def count_objects(data: bytes, limit: int = MAX_OBJECTS) -> int:
    """The opcodes of `data` that make or reference an object, counted without building any
    (pickletools reads the stream); stops counting past `limit`."""
    n = 0
    for op, _, _ in pickletools.genops(io.BytesIO(data)):
        if op.name in _BUILDS:
            n += 1
            if n > limit:
                break
    return n


def load_arrays_pickle(data: bytes, source: str, what: str):
    """Unpickle `data` (Python 2 byte strings read as latin1) with `SafeUnpickler`; a refused
    global, a damaged stream or one of more than MAX_OBJECTS objects is a DataError naming
    `source` and what it should have been."""
    try:
        if count_objects(data) > MAX_OBJECTS:
            raise DataError(f"{source} holds more than {MAX_OBJECTS:,} objects; it is not a "
                            f"{what} (those hold a few numpy arrays) and was not loaded.")
        return SafeUnpickler(io.BytesIO(data), encoding="latin1").load()
    except RefusedGlobal as exc:
        raise DataError(f"{source} was refused: {exc}; it is not a {what} (those hold only "
                        "numpy arrays) and was not loaded.") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError,
            AttributeError, KeyError, MemoryError) as exc:
        raise DataError(f"{source} is not a readable {what} ({exc}).") from None
