"""The GGUF header, read within bounds: metadata, tensor names, logical shapes, GGML types and
byte ranges (city96's ComfyUI-GGUF quantised denoisers, llama.cpp's files).

Layout reminder (GGUF v2/v3, little-endian): ``GGUF``, u32 version, u64 tensor count, u64
key/value count; the key/value pairs (a u64-length UTF-8 key, a u32 value type, the value:
a scalar, a u64-length string, or a u32 element type + u64 count + elements); then per tensor
its name, u32 dimension count, u64 dimensions (innermost first), u32 GGML type and u64 offset
into the data section, which starts at the next multiple of ``general.alignment`` (32).

Why not ``gguf.GGUFReader``? It trusts the counts in the file: an array whose length runs
past the end of the file loops (and allocates) once per element it will never find, a cut
file fails with a numpy ``IndexError``, and every metadata array becomes one numpy object per
element. Here each length is checked against the bytes left before anything is read or
looped over, and every malformation is a one-line :class:`~loradex.adapters.errors.CorruptFileError`
naming the file. The ``gguf`` package still gives the format's tables (value types, GGML
types and their block sizes; imported when a GGUF file is read) and dequantises tensors
(:mod:`.gguf_source`). No torch here: probing reads the header alone.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from loradex.adapters.errors import CorruptFileError, UnsupportedError

from .header import TensorInfo
from .opening import open_regular

if TYPE_CHECKING:
    from gguf.constants import GGUFValueType

__all__ = ["GGUFHeader", "MAGIC", "ORIG_SHAPE_PREFIX", "read_gguf_header"]

MAGIC = b"GGUF"
#: ComfyUI-GGUF stores the torch shape of a tensor it had to reshape (GGUF has at most 4
#: dimensions) under this prefix + the tensor's name, as an array of INT32.
ORIG_SHAPE_PREFIX = "comfy.gguf.orig_shape."
_VERSIONS = (2, 3)
_MAX_DIMS = 4  # GGML_MAX_DIMS
_DEFAULT_ALIGNMENT = 32
#: Arrays nested deeper than this are refused (GGUF writers nest at most once).
_MAX_DEPTH = 8
#: Metadata arrays up to this length are kept as JSON text; longer ones (a tokenizer's vocabulary)
#: as a count, so a catalog row never holds megabytes of tokens.
_SHOWN_ELEMENTS = 64
#: The fewest bytes one key/value pair (empty key, a one-byte value) and one tensor entry (empty
#: name, one dimension) can take: a count that cannot fit in the rest of the file is refused.
_MIN_KV_BYTES = 8 + 4 + 1
_MIN_TENSOR_BYTES = 8 + 4 + 8 + 4 + 8


@dataclass(frozen=True)
class GGUFHeader:
    """A GGUF file's header: its version, metadata as text (numbers as JSON, short arrays as JSON
    lists, long ones as a count), tensors ordered by offset, and where tensor data begins.

    A tensor's ``shape`` is torch's order (outermost first): the dimensions reversed, or
    ComfyUI-GGUF's recorded original shape. Its ``dtype`` is the GGML type's name (``F32``,
    ``F16``, ``BF16``, ``Q8_0``, ``Q4_K`` …; the unquantised ones are also safetensors' codes).
    """

    version: int
    metadata: dict[str, str]
    tensors: dict[str, TensorInfo]
    data_offset: int


def read_gguf_header(path: Path) -> GGUFHeader:
    """Read and validate the header of the GGUF file at ``path``.

    Raises:
        ArtifactNotFoundError: The file does not exist.
        UnreadableFileError: Not a regular file, or the OS refuses to open it.
        CorruptFileError: Not GGUF, cut short, or malformed (one line naming the file).
        UnsupportedError: GGUF version 1, a big-endian file, or a tensor type the ``gguf`` package
            does not know.
    """
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        if size < len(MAGIC):
            raise CorruptFileError(f"file too short for a GGUF header ({size} bytes)", path=path)
        return _Parser(f, size, path).header()


class _Parser:
    """A cursor over the file that checks every length against what is left before reading
    (plain reads, not a memory map: a file cut while it is read must be an error, not a SIGBUS)."""

    def __init__(self, f: BinaryIO, size: int, path: Path) -> None:
        from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType

        self.f, self.size, self.path, self.pos = f, size, path, 0
        self.value_types, self.qtypes, self.quant_sizes = GGUFValueType, GGMLQuantizationType, GGML_QUANT_SIZES
        t = GGUFValueType
        self.scalars: dict[GGUFValueType, struct.Struct] = {
            kind: struct.Struct("<" + fmt)
            for kind, fmt in (
                (t.UINT8, "B"),
                (t.INT8, "b"),
                (t.UINT16, "H"),
                (t.INT16, "h"),
                (t.UINT32, "I"),
                (t.INT32, "i"),
                (t.FLOAT32, "f"),
                (t.BOOL, "?"),
                (t.UINT64, "Q"),
                (t.INT64, "q"),
                (t.FLOAT64, "d"),
            )
        }

    def header(self) -> GGUFHeader:
        if self.take(4) != MAGIC:
            raise CorruptFileError("not a GGUF file (it does not start with 'GGUF')", path=self.path)
        version = self.u32()
        if version & 0xFFFF == 0 and version >> 24 in _VERSIONS:  # the bytes of a big-endian 2 or 3
            raise UnsupportedError("a big-endian GGUF file; loradex reads little-endian ones", path=self.path)
        if version not in _VERSIONS:
            raise UnsupportedError(f"GGUF version {version}; loradex reads versions 2 and 3", path=self.path)
        n_tensors, n_kv = self.u64(), self.u64()
        self.check_count(n_kv, _MIN_KV_BYTES, "metadata entries")
        values: dict[str, Any] = {}
        metadata: dict[str, str] = {}
        for _ in range(n_kv):
            key = self.string("a metadata key")
            if key in values:
                raise CorruptFileError(f"metadata key {key!r} occurs twice", path=self.path)
            values[key], metadata[key] = self.value(self.value_type(self.u32(), key), key, 0)
        self.check_count(n_tensors, _MIN_TENSOR_BYTES, "tensors")
        entries = [self.tensor_entry() for _ in range(n_tensors)]
        alignment = self.alignment(values)
        data_offset = -(-self.pos // alignment) * alignment
        tensors = self.place(entries, values, data_offset, alignment)
        return GGUFHeader(version, metadata, tensors, data_offset)

    # -- primitives -------------------------------------------------------------------------

    def take(self, n: int) -> bytes:
        self.need(n)
        chunk = self.f.read(n)
        if len(chunk) != n:
            raise CorruptFileError(
                f"the file shrank to {self.pos + len(chunk)} bytes while it was read", path=self.path
            )
        self.pos += n
        return chunk

    def skip(self, n: int) -> None:
        self.need(n)
        self.f.seek(n, os.SEEK_CUR)
        self.pos += n

    def need(self, n: int) -> None:
        if n > self.size - self.pos:
            raise CorruptFileError(
                f"truncated: the header needs {n} bytes at byte {self.pos} but the file has {self.size}",
                path=self.path,
            )

    def unpack(self, fmt: struct.Struct) -> Any:
        return fmt.unpack(self.take(fmt.size))[0]

    def u32(self) -> int:
        return int(self.unpack(_U32))

    def u64(self) -> int:
        return int(self.unpack(_U64))

    def string(self, what: str) -> str:
        n = self.u64()
        raw = self.take(n)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CorruptFileError(
                f"{what} at byte {self.pos - n} is not UTF-8 (byte {exc.start})", path=self.path
            ) from None

    def check_count(self, count: int, least: int, what: str) -> None:
        if count * least > self.size - self.pos:
            raise CorruptFileError(
                f"the header declares {count} {what}, more than the {self.size}-byte file can hold", path=self.path
            )

    # -- metadata ---------------------------------------------------------------------------

    def value_type(self, code: int, key: str) -> GGUFValueType:
        try:
            return self.value_types(code)
        except ValueError:
            raise CorruptFileError(f"metadata key {key!r} has unknown value type {code}", path=self.path) from None

    def value(self, kind: GGUFValueType, key: str, depth: int) -> tuple[Any, str]:
        """The value at the cursor as Python and as text."""
        if kind in self.scalars:
            value = self.unpack(self.scalars[kind])
            return value, json.dumps(value)
        if kind == self.value_types.STRING:
            text = self.string(f"the value of {key!r}")
            return text, text
        if depth >= _MAX_DEPTH:
            raise CorruptFileError(f"metadata key {key!r} nests arrays over {_MAX_DEPTH} deep", path=self.path)
        element = self.value_type(self.u32(), key)
        count = self.u64()
        width = self.scalars[element].size if element in self.scalars else 8  # a string or an array: 8 at least
        self.check_count(count, width, f"elements in {key!r}")
        if count > _SHOWN_ELEMENTS:
            if element in self.scalars:
                self.skip(count * width)
            else:
                for _ in range(count):
                    self.value(element, key, depth + 1)
            return None, f"<{count} {element.name.lower()} values>"
        items = [self.value(element, key, depth + 1)[0] for _ in range(count)]
        return items, json.dumps(items)

    def alignment(self, values: dict[str, Any]) -> int:
        alignment = values.get("general.alignment", _DEFAULT_ALIGNMENT)
        if (
            not isinstance(alignment, int)
            or isinstance(alignment, bool)
            or alignment <= 0
            or alignment & (alignment - 1)
        ):
            raise CorruptFileError(f"general.alignment {alignment!r} is not a power of two", path=self.path)
        return alignment

    # -- tensors ----------------------------------------------------------------------------

    def tensor_entry(self) -> tuple[str, str, tuple[int, ...], int]:
        """(name, GGML type name, dimensions innermost first, offset) of the entry at the cursor."""
        name = self.string("a tensor name")
        n_dims = self.u32()
        if not 1 <= n_dims <= _MAX_DIMS:
            raise CorruptFileError(f"tensor {name!r}: {n_dims} dimensions (GGUF allows 1 to 4)", path=self.path)
        dims = tuple(self.u64() for _ in range(n_dims))
        code = self.u32()
        try:
            qtype = self.qtypes(code)
        except ValueError:
            raise UnsupportedError(
                f"tensor {name!r} has GGML type {code}, unknown to this gguf package", path=self.path
            ) from None
        block, _ = self.quant_sizes[qtype]
        if dims[0] % block:
            raise CorruptFileError(
                f"tensor {name!r}: rows of {dims[0]} values are not whole {qtype.name} blocks of {block}",
                path=self.path,
            )
        return name, qtype.name, dims, self.u64()

    def place(
        self,
        entries: list[tuple[str, str, tuple[int, ...], int]],
        values: dict[str, Any],
        data_offset: int,
        alignment: int,
    ) -> dict[str, TensorInfo]:
        """The tensors with their absolute byte ranges, checked to lie apart inside the file."""
        tensors: dict[str, TensorInfo] = {}
        for name, qtype, dims, offset in entries:
            if name in tensors:
                raise CorruptFileError(f"tensor {name!r} occurs twice", path=self.path)
            if offset % alignment:
                raise CorruptFileError(f"tensor {name!r}: offset {offset} is not {alignment}-aligned", path=self.path)
            block, type_size = self.quant_sizes[self.qtypes[qtype]]
            start = data_offset + offset
            end = start + math.prod(dims) // block * type_size
            if end > self.size:
                raise CorruptFileError(
                    f"truncated data section: tensor {name!r} ends at byte {end} but the file has {self.size}",
                    path=self.path,
                )
            shape = self.shape(name, tuple(reversed(dims)), values.get(ORIG_SHAPE_PREFIX + name))
            tensors[name] = TensorInfo(name, qtype, shape, start, end)
        ordered = sorted(tensors.values(), key=lambda t: (t.start, t.end))
        for before, after in zip(ordered, ordered[1:], strict=False):
            if after.start < before.end:
                raise CorruptFileError(f"tensor {after.name!r} overlaps tensor {before.name!r}", path=self.path)
        return {t.name: t for t in ordered}

    def shape(self, name: str, stored: tuple[int, ...], original: Any) -> tuple[int, ...]:
        if original is None:
            return stored
        if (
            not isinstance(original, list)
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in original)
            or math.prod(original) != math.prod(stored)
        ):
            raise CorruptFileError(
                f"{ORIG_SHAPE_PREFIX}{name} is not a shape of the tensor's {math.prod(stored)} values", path=self.path
            )
        return tuple(original)


_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
