"""ctypes declarations of LoanScore's C API (``include/loanscore.h``) and where the library is found.

Only :mod:`loanscore.local` uses this module. Every function is declared with its argument and
result types, so a wrong call fails in Python rather than in the library. ctypes releases the
GIL for the duration of each foreign call (``CDLL``), so scoring runs in parallel across threads.
"""
from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path
from typing import Final

ABI_VERSION: Final = 1

OK: Final = 0
E_NULL_ARGUMENT: Final = 1
E_BAD_LENGTH: Final = 2
E_BAD_INDEX: Final = 3
E_BUNDLE: Final = 4
E_BAD_COLUMN: Final = 5
E_BAD_UTF8: Final = 6
E_TOO_LARGE: Final = 7
E_INTERNAL: Final = 99

FIELD_TYPES: Final = ("number", "integer", "category", "boolean")

COLUMN_MISSING: Final = 0
COLUMN_DOUBLE: Final = 1
COLUMN_UTF8: Final = 2
COLUMN_BOOL: Final = 3

ACCEPTED: Final = 0
REJECTED: Final = 1

RESULT_PD: Final = 0
RESULT_CONFIDENCE: Final = 1
RESULT_STATUS: Final = 10
RESULT_DECISION: Final = 11
RESULT_DECISION_NAME: Final = 20
RESULT_RISK_LEVEL: Final = 21
RESULT_REASONS: Final = 22
RESULT_REASON_TEXTS: Final = 23
RESULT_FLAGS: Final = 24
RESULT_REJECTION: Final = 25
RESULT_REJECTED_FIELD: Final = 26

#: The library file inside the installed package (``make wheel`` puts it there).
PACKAGED_LIBRARY: Final = Path(__file__).resolve().parent / "_lib" / "libloanscore.so"


class BundleInfo(ctypes.Structure):
    _fields_ = [
        ("model_name", ctypes.c_char_p),
        ("model_version", ctypes.c_char_p),
        ("schema_name", ctypes.c_char_p),
        ("id_column", ctypes.c_char_p),
        ("target_column", ctypes.c_char_p),
        ("field_count", ctypes.c_size_t),
        ("member_count", ctypes.c_size_t),
        ("schema_json", ctypes.c_char_p),
    ]


class FieldInfo(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("type", ctypes.c_int32),
        ("accepts_missing", ctypes.c_int32),
        ("optional_column", ctypes.c_int32),
        ("is_feature", ctypes.c_int32),
        ("level_count", ctypes.c_size_t),
    ]


class Column(ctypes.Structure):
    _fields_ = [
        ("kind", ctypes.c_int32),
        ("valid", ctypes.c_void_p),
        ("values", ctypes.c_void_p),
        ("booleans", ctypes.c_void_p),
        ("offsets", ctypes.c_void_p),
        ("data", ctypes.c_void_p),
        ("data_length", ctypes.c_size_t),
    ]


class ReasonInfo(ctypes.Structure):
    _fields_ = [
        ("field", ctypes.c_char_p),
        ("code", ctypes.c_char_p),
        ("text", ctypes.c_char_p),
        ("contribution", ctypes.c_double),
    ]


_P = ctypes.c_void_p
_ERR = ctypes.POINTER(ctypes.c_void_p)  # char **error_message (read as a raw pointer, then freed)
_SIGNATURES: Final[dict[str, tuple[object, list[object]]]] = {
    "loanscore_version": (ctypes.c_char_p, []),
    "loanscore_abi_version": (ctypes.c_int32, []),
    "loanscore_string_free": (None, [_P]),
    "loanscore_bundle_open": (ctypes.c_int32, [ctypes.c_char_p, ctypes.POINTER(_P), _ERR]),
    "loanscore_bundle_close": (None, [_P]),
    "loanscore_bundle_describe": (ctypes.c_int32, [_P, ctypes.POINTER(BundleInfo), _ERR]),
    "loanscore_bundle_field": (ctypes.c_int32, [_P, ctypes.c_size_t, ctypes.POINTER(FieldInfo), _ERR]),
    "loanscore_bundle_level": (ctypes.c_int32, [_P, ctypes.c_size_t, ctypes.c_size_t, ctypes.POINTER(ctypes.c_char_p), _ERR]),
    "loanscore_score": (ctypes.c_int32, [_P, ctypes.POINTER(Column), ctypes.c_size_t, ctypes.c_size_t, ctypes.POINTER(_P), _ERR]),
    "loanscore_result_free": (None, [_P]),
    "loanscore_result_count": (ctypes.c_int32, [_P, ctypes.POINTER(ctypes.c_size_t), _ERR]),
    "loanscore_result_rejected_count": (ctypes.c_int32, [_P, ctypes.POINTER(ctypes.c_size_t), _ERR]),
    "loanscore_result_reason": (ctypes.c_int32, [_P, ctypes.c_size_t, ctypes.c_size_t, ctypes.POINTER(ReasonInfo), _ERR]),
    "loanscore_result_doubles": (ctypes.c_int32, [_P, ctypes.c_int32, ctypes.POINTER(_P), _ERR]),
    "loanscore_result_int32s": (ctypes.c_int32, [_P, ctypes.c_int32, ctypes.POINTER(_P), _ERR]),
    "loanscore_result_texts": (ctypes.c_int32, [_P, ctypes.c_int32, ctypes.POINTER(_P), ctypes.POINTER(_P),
                                                ctypes.POINTER(ctypes.c_size_t), _ERR]),
}


class CError(Exception):
    """A failed C call: the ``LOANSCORE_E_*`` status and the library's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Library:
    """The loaded C library with its functions declared."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.dll = ctypes.CDLL(str(path))
        for name, (restype, argtypes) in _SIGNATURES.items():
            try:
                function = getattr(self.dll, name)
            except AttributeError:
                raise OSError(f"{path} is not the LoanScore C library (it has no {name})") from None
            function.restype = restype
            function.argtypes = argtypes
        abi = int(self.dll.loanscore_abi_version())
        if abi != ABI_VERSION:
            raise OSError(f"{path}: the library has C ABI {abi}; this package speaks ABI {ABI_VERSION}")
        self.version: str = self.dll.loanscore_version().decode()

    def call(self, name: str, *args: object) -> None:
        """Calls ``name`` with ``args`` plus an error-message out-parameter; raises :class:`CError`."""
        message = ctypes.c_void_p()
        status = int(getattr(self.dll, name)(*args, ctypes.byref(message)))
        if status != OK:
            text = ctypes.string_at(message.value).decode("utf-8", "replace") if message.value else f"status {status}"
            self.dll.loanscore_string_free(message)
            raise CError(status, text)


_loaded: dict[Path, Library] = {}
_lock = threading.Lock()


def library_path(library: str | os.PathLike[str] | None) -> Path:
    """The library to load: ``library`` if given, else ``$LOANSCORE_LIBRARY``, else the packaged one."""
    if library is not None:
        return Path(library)
    env = os.environ.get("LOANSCORE_LIBRARY")
    return Path(env) if env else PACKAGED_LIBRARY


def load(library: str | os.PathLike[str] | None) -> Library:
    """Loads (once per path) and declares the C library; raises ``OSError`` naming the path tried."""
    path = library_path(library).resolve()
    with _lock:
        if path not in _loaded:
            if not path.exists():
                raise OSError(f"the LoanScore C library is missing at {path} (pass library=, set LOANSCORE_LIBRARY, "
                              "or install the platform wheel that ships it)")
            _loaded[path] = Library(path)
        return _loaded[path]
