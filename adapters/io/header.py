"""The safetensors header codec: dtype codes, and reading and validating headers (writing them is
:mod:`.header_encoding`).

Layout reminder (the safetensors format): 8 bytes little-endian u64 ``n``, then ``n`` bytes of
UTF-8 JSON mapping tensor names to ``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets
relative to the end of the header) plus an optional ``"__metadata__"`` str->str map, then the
tensor data, contiguous and little-endian.

Nothing here needs torch: probing and listing decode headers alone.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
from pathlib import Path
from typing import Any, NamedTuple

from loradex.adapters.errors import CorruptFileError

from . import bounded_json
from .opening import open_regular

__all__ = [
    "DTYPE_SIZES",
    "LENGTH_PREFIX",
    "MAX_HEADER_BYTES",
    "METADATA_KEY",
    "SCALAR_FORMATS",
    "TensorInfo",
    "is_nonneg_int",
    "read_header",
]

#: Bytes per element for every safetensors dtype code loradex understands. Sub-byte codes
#: (F4, F6_*) are deliberately absent: they cannot be expressed as plain torch tensors.
DTYPE_SIZES: dict[str, int] = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "F8_E4M3FNUZ": 1,
    "F8_E5M2FNUZ": 1,
    "F8_E8M0": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
    "C64": 8,
}

#: struct formats of the dtypes :meth:`SafetensorsFile.scalar` decodes itself (little-endian;
#: BF16 is read as the upper half of a float32).
SCALAR_FORMATS = {
    "BOOL": "<?",
    "U8": "<B",
    "I8": "<b",
    "I16": "<h",
    "U16": "<H",
    "F16": "<e",
    "BF16": "<f",
    "I32": "<i",
    "U32": "<I",
    "F32": "<f",
    "I64": "<q",
    "U64": "<Q",
    "F64": "<d",
}

#: The safetensors library refuses headers above this size; so do we, so a garbage length
#: field can never make us allocate gigabytes.
MAX_HEADER_BYTES = 100_000_000

METADATA_KEY = "__metadata__"
LENGTH_PREFIX = struct.Struct("<Q")


class TensorInfo(NamedTuple):
    """Where one tensor lives in a safetensors file (or a GGUF file: :mod:`.gguf_header`).

    ``start`` and ``end`` are absolute file offsets (header included), so ``end - start`` is
    the tensor's byte size and a reader can ``pread`` the range directly. A named tuple, not a
    frozen dataclass: a header makes one per tensor, and a frozen dataclass took 2 µs each (a
    third of parsing a small LoRA's header).
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def nbytes(self) -> int:
        """Size of the tensor's data in bytes."""
        return self.end - self.start

    @property
    def numel(self) -> int:
        """Number of elements (1 for a scalar, 0 for a zero-size tensor)."""
        return math.prod(self.shape)


#: One tensor entry as the header gives it: (name, dtype, shape, begin, end), offsets relative
#: to the data section.
Entry = tuple[str, str, tuple[int, ...], int, int]


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def read_header(path: Path) -> tuple[int, dict[str, str], dict[str, TensorInfo]]:
    """Read and validate the header of the safetensors file at ``path``.

    Returns:
        ``(header_size, metadata, tensors)``: the header's size with its 8-byte length (where
        tensor data begins), the ``__metadata__`` map ({} if absent), and name ->
        :class:`TensorInfo` ordered by data offset.

    Raises:
        ArtifactNotFoundError: The file does not exist.
        UnsupportedError: The path is a directory.
        UnreadableFileError: Not a regular file, or the OS refuses to open it.
        CorruptFileError: The header or the data layout is malformed (one-line reason).
    """
    raw, file_size = _read_header_bytes(path)
    metadata, tensors = _parse_header(raw, file_size, path)
    return LENGTH_PREFIX.size + len(raw), metadata, tensors


def _read_header_bytes(path: Path) -> tuple[bytes, int]:
    """Return (header JSON bytes, file size) after the size checks that need no parsing."""
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise CorruptFileError("empty file (0 bytes), not a safetensors file", path=path)
        if size < LENGTH_PREFIX.size:
            raise CorruptFileError(
                f"file too short for a safetensors header ({size} bytes, need at least 8)",
                path=path,
            )
        (n,) = LENGTH_PREFIX.unpack(f.read(LENGTH_PREFIX.size))
        if n > size - LENGTH_PREFIX.size:
            raise CorruptFileError(
                f"header length {n} exceeds the file size ({size} bytes); truncated or not a safetensors file",
                path=path,
            )
        if n > MAX_HEADER_BYTES:
            raise CorruptFileError(f"header length {n} exceeds the {MAX_HEADER_BYTES}-byte limit", path=path)
        header = f.read(n)
    if len(header) != n:  # the file shrank between fstat and read
        raise CorruptFileError(f"header truncated: expected {n} bytes, got {len(header)}", path=path)
    return header, size


def _parse_header(raw: bytes, file_size: int, path: Path) -> tuple[dict[str, str], dict[str, TensorInfo]]:
    """Decode and validate the header; return (metadata, tensors ordered by offset)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptFileError(f"header is not valid UTF-8 (byte {exc.start + 8})", path=path) from None
    plain = _parse_plain(text)
    if plain is None:  # anything unusual: the bounded parse and its checks decide, and say why
        obj = _decode_json_object(text, path)
        metadata = _parse_metadata(obj.pop(METADATA_KEY, {}), path)
        entries = [_parse_entry(name, value, path) for name, value in obj.items()]
    else:
        metadata, entries = plain
    header_size = LENGTH_PREFIX.size + len(raw)
    _check_layout(entries, file_size - header_size, path)
    tensors = {
        name: TensorInfo(name, dtype, shape, header_size + begin, header_size + end)
        for name, dtype, shape, begin, end in sorted(entries, key=lambda e: (e[3], e[4], e[0]))
    }
    return metadata, tensors


#: JSON objects as tuples of their (key, value) pairs, in C: repeated keys stay visible, and an
#: object is never taken for an array (a list).
_PAIRS = json.JSONDecoder(object_pairs_hook=tuple)
_ENTRY_KEYS = ("dtype", "shape", "data_offsets")
#: The first integer of more than :data:`bounded_json.MAX_DIGITS` digits.
_DIGITS_LIMIT = 10**bounded_json.MAX_DIGITS


def _parse_plain(text: str) -> tuple[dict[str, str], list[Entry]] | None:
    """``(metadata, entries)`` of a header as writers write them — entries of exactly dtype,
    shape and data_offsets, string metadata, no key twice, integers within bounds, no lone
    surrogate escape — parsed by the C decoder with no Python per value; None for anything else.

    None is never an answer: it sends the header to the bounded parse and the checks that name
    the fault (which would accept this header with the same result, and only this one).
    The bounded parse's hooks ran in Python for every number and object: two thirds of a small
    LoRA's probe.
    """
    if _SURROGATE_ESCAPE.search(text):
        return None
    try:
        top = _PAIRS.decode(text)
    except (ValueError, RecursionError):  # not JSON, an integer past int()'s limit, nesting past the stack's
        return None
    if type(top) is not tuple or len({name for name, _ in top}) != len(top):
        return None
    metadata: dict[str, str] = {}
    entries: list[Entry] = []
    for name, value in top:
        if type(value) is not tuple:
            return None
        if name == METADATA_KEY:
            metadata = dict(value)
            if len(metadata) != len(value) or not all(type(v) is str for v in metadata.values()):
                return None
            continue
        if len(value) != 3:
            return None
        (k1, dtype), (k2, shape), (k3, offsets) = value
        if (k1, k2, k3) != _ENTRY_KEYS:
            fields = dict(value)
            if fields.keys() != set(_ENTRY_KEYS):
                return None
            dtype, shape, offsets = fields["dtype"], fields["shape"], fields["data_offsets"]
        if type(dtype) is not str or type(shape) is not list or type(offsets) is not list or len(offsets) != 2:
            return None
        begin, end = offsets
        size = DTYPE_SIZES.get(dtype)
        if size is None or type(begin) is not int or type(end) is not int or not 0 <= begin <= end < _DIGITS_LIMIT:
            return None
        for d in shape:
            if type(d) is not int or not 0 <= d < _DIGITS_LIMIT:
                return None
            size *= d
        if end - begin != size:
            return None
        entries.append((name, dtype, tuple(shape), begin, end))
    return metadata, entries


def _decode_json_object(text: str, path: Path) -> dict[str, Any]:
    try:
        obj = bounded_json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except bounded_json.JsonLimitError as exc:
        raise CorruptFileError(f"header: {exc}", path=path) from None
    except _DuplicateKey as exc:
        raise CorruptFileError(f"header repeats the key {exc.args[0]!r}", path=path) from None
    except json.JSONDecodeError as exc:
        raise CorruptFileError(f"header is not valid JSON ({exc.msg} at header byte {exc.pos})", path=path) from None
    if not isinstance(obj, dict):
        raise CorruptFileError(f"header is not a JSON object (got {type(obj).__name__})", path=path)
    if _SURROGATE_ESCAPE.search(text) and (bad := _lone_surrogate(obj)) is not None:
        # Valid JSON, but no UTF-8 text can hold a lone surrogate: the safetensors library
        # refuses it, and a catalog (or a terminal) cannot store or print the string.
        raise CorruptFileError(f"header string {bad!r} holds a lone UTF-16 surrogate (not valid UTF-8)", path=path)
    return obj


#: The only way a surrogate gets into a decoded header: a ``\uD800``-``\uDFFF`` escape (valid
#: pairs are joined into one character by the JSON decoder; raw UTF-8 cannot encode them).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _lone_surrogate(obj: Any) -> str | None:
    """The first string (key or value, at any depth) holding a lone surrogate, else None.
    Iterative: a deep header must not exhaust the recursion limit here."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return item[:60]
    return None


class _DuplicateKey(Exception):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A repeated tensor name would silently shadow data; the library rejects it too.
    out = dict(pairs)
    if len(out) != len(pairs):  # rare path: find the culprit for the message
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return out


def _parse_metadata(value: Any, path: Path) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise CorruptFileError("__metadata__ must be an object mapping strings to strings", path=path)
    return dict(value)


def _parse_entry(name: str, value: Any, path: Path) -> Entry:
    """Validate one tensor entry; return (name, dtype, shape, begin, end) relative offsets."""
    if not isinstance(value, dict):
        raise CorruptFileError(f"tensor {name!r}: entry is not an object", path=path)
    for field in ("dtype", "shape", "data_offsets"):
        if field not in value:
            raise CorruptFileError(f"tensor {name!r}: missing {field!r}", path=path)
    dtype = value["dtype"]
    if not isinstance(dtype, str) or dtype not in DTYPE_SIZES:
        raise CorruptFileError(f"tensor {name!r}: unknown dtype {dtype!r}", path=path)
    shape = value["shape"]
    if not isinstance(shape, list) or not all(is_nonneg_int(d) for d in shape):
        raise CorruptFileError(
            f"tensor {name!r}: shape must be a list of non-negative integers, got {_short(shape)}",
            path=path,
        )
    offsets = value["data_offsets"]
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(is_nonneg_int(o) for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise CorruptFileError(
            f"tensor {name!r}: data_offsets must be [begin, end] with 0 <= begin <= end, got {_short(offsets)}",
            path=path,
        )
    begin, end = offsets
    expected = math.prod(shape) * DTYPE_SIZES[dtype]
    if end - begin != expected:
        raise CorruptFileError(
            f"tensor {name!r}: data_offsets [{begin}, {end}] span {end - begin} bytes "
            f"but shape {shape} of {dtype} needs {expected}",
            path=path,
        )
    return name, dtype, tuple(shape), begin, end


def _check_layout(entries: list[Entry], data_len: int, path: Path) -> None:
    """Require tensor data to tile the data section exactly, as the safetensors library does."""
    ordered = sorted(entries, key=lambda e: (e[3], e[4]))
    cursor = 0
    for name, _, _, begin, end in ordered:
        if begin != cursor:
            _raise_misplaced(ordered, data_len, name, begin, cursor, path)
        cursor = end
    if cursor > data_len:
        raise CorruptFileError(
            f"truncated data section: the header declares {cursor} bytes of tensor data "
            f"but only {data_len} follow the header",
            path=path,
        )
    if cursor < data_len:
        raise CorruptFileError(f"{data_len - cursor} unexpected bytes after the last tensor's data", path=path)


def _raise_misplaced(
    ordered: list[Entry],
    data_len: int,
    name: str,
    begin: int,
    cursor: int,
    path: Path,
) -> None:
    # A tensor pointing past the end of the file is the more useful diagnosis than "gap".
    for other, _, _, b, e in ordered:
        if e > data_len:
            raise CorruptFileError(
                f"tensor {other!r}: data_offsets [{b}, {e}] lie beyond the end of the file "
                f"(data section is {data_len} bytes)",
                path=path,
            )
    kind = "overlaps the previous tensor" if begin < cursor else "leaves a gap before it"
    raise CorruptFileError(
        f"tensor {name!r}: data starts at byte {begin} but the previous tensor ends at {cursor} ({kind})",
        path=path,
    )


def is_nonneg_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
