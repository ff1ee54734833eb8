"""A lazy safetensors reader and a streaming, atomic safetensors writer, written by hand.

Why not just use the ``safetensors`` library? It is fine for loading, and files written here
round-trip through it (the tests check that), but loradex needs three things it does not give:

* **byte accounting** -- :attr:`SafetensorsFile.bytes_read` counts exactly the header plus the
  tensor bytes actually read, so callers (and tests) can prove that inspecting a 6 GB checkpoint
  only touched its header;
* **strict validation with one-line errors** -- every malformed header, bad offset or truncated
  data section becomes a :class:`~loradex.adapters.errors.CorruptFileError` that names the file
  and the problem in one line, ready for a front end to print;
* **a writer with bounded memory** -- ``safetensors.torch.save_file`` needs every tensor in
  memory at once. Since all sizes are known from (name, dtype, shape) alone,
  :class:`SafetensorsWriter` writes the header first and then streams tensors one at a time,
  into a temp file that only replaces the target on :meth:`SafetensorsWriter.commit`.

Layout reminder (the safetensors format): 8 bytes little-endian u64 ``n``, then ``n`` bytes of
UTF-8 JSON mapping tensor names to ``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets
relative to the end of the header) plus an optional ``"__metadata__"`` str->str map, then the
tensor data, contiguous and little-endian.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import math
import os
import queue
import shutil
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import torch

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from .errors import (
    ArtifactNotFoundError,
    CorruptFileError,
    DiskSpaceError,
    LoradexError,
    OutputError,
    TensorNotFoundError,
    UnsupportedError,
)

__all__ = [
    "DTYPE_SIZES",
    "MAX_HEADER_BYTES",
    "SafetensorsFile",
    "SafetensorsWriter",
    "TensorInfo",
    "atomic_path",
    "dtype_code",
    "save_tensors",
    "torch_dtype",
]

#: Bytes per element for every safetensors dtype code loradex understands. Sub-byte codes
#: (F4, F6_*) are deliberately absent: they cannot be expressed as plain torch tensors.
#: struct formats of the dtypes :meth:`SafetensorsFile.scalar` decodes itself (little-endian).
_SCALAR_FORMATS = {"BOOL": "<?", "U8": "<B", "I8": "<b", "I16": "<h", "U16": "<H", "F16": "<e", "BF16": "<f",
                   "I32": "<i", "U32": "<I", "F32": "<f", "I64": "<q", "U64": "<Q", "F64": "<d"}

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

# Looked up by attribute name because older torch builds lack the fp8 and wide unsigned types;
# a file using them still validates, only get() refuses.
_TORCH_DTYPE_NAMES: dict[str, str] = {
    "BOOL": "bool",
    "U8": "uint8",
    "I8": "int8",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
    "F8_E4M3FNUZ": "float8_e4m3fnuz",
    "F8_E5M2FNUZ": "float8_e5m2fnuz",
    "F8_E8M0": "float8_e8m0fnu",
    "I16": "int16",
    "U16": "uint16",
    "F16": "float16",
    "BF16": "bfloat16",
    "I32": "int32",
    "U32": "uint32",
    "F32": "float32",
    "I64": "int64",
    "U64": "uint64",
    "F64": "float64",
    "C64": "complex64",
}

#: The safetensors library refuses headers above this size; so do we, so a garbage length
#: field can never make us allocate gigabytes.
MAX_HEADER_BYTES = 100_000_000

_METADATA_KEY = "__metadata__"
_LEN = struct.Struct("<Q")


def torch_dtype(code: str) -> torch.dtype:
    """Return the torch dtype for a safetensors dtype code.

    Args:
        code: A safetensors dtype code such as ``"F16"`` or ``"F8_E4M3"``.

    Returns:
        The matching ``torch.dtype``.

    Raises:
        UnsupportedError: The code is unknown, or this torch build has no such dtype.
    """
    name = _TORCH_DTYPE_NAMES.get(code)
    dtype = getattr(torch, name, None) if name else None
    if not isinstance(dtype, torch.dtype):
        raise UnsupportedError(f"dtype {code} is not available in torch {torch.__version__}")
    return dtype


def dtype_code(dtype: torch.dtype) -> str:
    """Return the safetensors dtype code for a torch dtype.

    Args:
        dtype: A torch dtype, e.g. ``torch.bfloat16``.

    Returns:
        The code, e.g. ``"BF16"``.

    Raises:
        UnsupportedError: safetensors has no code for this dtype (e.g. quantized types).
    """
    for code, name in _TORCH_DTYPE_NAMES.items():
        if getattr(torch, name, None) == dtype:
            return code
    raise UnsupportedError(f"torch dtype {dtype} has no safetensors equivalent")


@dataclass(frozen=True)
class TensorInfo:
    """Where one tensor lives in a safetensors file.

    ``start`` and ``end`` are absolute file offsets (header included), so ``end - start`` is
    the tensor's byte size and a reader can ``pread`` the range directly.
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


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


class SafetensorsFile:
    """A validated, lazy view of one ``.safetensors`` file.

    Construction reads only the 8-byte length and the JSON header; tensor data is read on
    demand by :meth:`get` / :meth:`read_raw`, one exact byte range at a time.

    Attributes:
        path: The file.
        metadata: The ``__metadata__`` map ({} if absent).
        tensors: Name -> :class:`TensorInfo`, ordered by data offset.
        header_size: ``8 + n``; also the absolute offset where tensor data begins.
        bytes_read: Header bytes plus every tensor byte read so far.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Open ``path`` and validate its header.

        Args:
            path: The ``.safetensors`` file.

        Raises:
            ArtifactNotFoundError: The file does not exist.
            UnsupportedError: The path is a directory.
            CorruptFileError: The header or the data layout is malformed (one-line reason).
        """
        self.path = Path(path)
        header, file_size = _read_header_bytes(self.path)
        self.header_size: int = _LEN.size + len(header)
        self.metadata, self.tensors = _parse_header(header, file_size, self.path)
        self.bytes_read: int = self.header_size
        self._fd: int | None = None
        self._lock = threading.Lock()

    # -- mapping-like access --------------------------------------------------------------

    @property
    def data_offset(self) -> int:
        """Absolute file offset of the data section (equals :attr:`header_size`)."""
        return self.header_size

    def header_with(self, metadata: Mapping[str, str] | None) -> bytes:
        """The header (length prefix included) this file would have with ``metadata`` instead of
        its own: same tensors, same order, offsets shifted to the new header's end."""
        return _reencode_header(self.tensors, self.header_size, metadata)

    def keys(self) -> list[str]:
        """Tensor names in data-offset order."""
        return list(self.tensors)

    def __contains__(self, name: object) -> bool:
        return name in self.tensors

    def __len__(self) -> int:
        return len(self.tensors)

    def __iter__(self) -> Iterator[str]:
        return iter(self.tensors)

    def info(self, name: str) -> TensorInfo:
        """Return the :class:`TensorInfo` of ``name``.

        Raises:
            TensorNotFoundError: No tensor of that name (message names key and file).
        """
        try:
            return self.tensors[name]
        except KeyError:
            raise TensorNotFoundError(f"no tensor named {name!r}", path=self.path) from None

    def read_raw(self, name: str) -> bytes:
        """Return the raw little-endian bytes of tensor ``name``, exactly as stored.

        Raises:
            TensorNotFoundError: No tensor of that name.
            CorruptFileError: The file shrank since the header was read.
        """
        info = self.info(name)
        buf = bytearray(info.nbytes)
        self._read_into(buf, info.start)
        return bytes(buf)

    def scalar(self, name: str) -> float:
        """The value of a one-element tensor (an alpha), decoded without building a tensor:
        probing a small LoRA reads dozens of them, and torch's per-tensor overhead was a
        third of the probe.

        Raises:
            TensorNotFoundError: No tensor of that name.
            UnsupportedError: The tensor holds more than one value.
        """
        info = self.info(name)
        if math.prod(info.shape) != 1:
            raise UnsupportedError(f"tensor {name!r} holds {math.prod(info.shape)} values, not one", path=self.path)
        fmt = _SCALAR_FORMATS.get(info.dtype)
        if fmt is None:  # fp8 and other rare codes: torch decodes them
            return float(self.get(name).float().reshape(-1)[0])
        buf = bytearray(info.nbytes)
        self._read_into(buf, info.start)
        if info.dtype == "BF16":  # the upper half of a float32
            buf[0:0] = b"\0\0"
        return float(struct.unpack(fmt, buf)[0])

    def get(self, name: str) -> torch.Tensor:
        """Read tensor ``name`` (only its byte range) into a new CPU tensor.

        Returns:
            A tensor with the stored dtype and shape (scalars and zero-size shapes included).

        Raises:
            TensorNotFoundError: No tensor of that name.
            UnsupportedError: This torch build lacks the tensor's dtype (e.g. old torch, fp8).
            CorruptFileError: The file shrank since the header was read.
        """
        info = self.info(name)
        dtype = torch_dtype(info.dtype)
        if info.nbytes == 0:
            # torch.frombuffer rejects empty buffers.
            return torch.empty(info.shape, dtype=dtype)
        buf = bytearray(info.nbytes)
        self._read_into(buf, info.start)
        if sys.byteorder == "big":  # pragma: no cover - no big-endian CI
            # Stored little-endian: reverse the bytes of every element before reinterpreting.
            raw = torch.frombuffer(buf, dtype=torch.uint8).reshape(-1, DTYPE_SIZES[info.dtype])
            return raw.flip(-1).contiguous().view(dtype).reshape(info.shape)
        return torch.frombuffer(buf, dtype=dtype).reshape(info.shape)

    # -- I/O ------------------------------------------------------------------------------

    def _read_into(self, buf: bytearray, offset: int) -> None:
        """Fill ``buf`` from absolute ``offset``; counts the bytes in :attr:`bytes_read`."""
        view = memoryview(buf)
        with self._lock:
            fd = self._open_fd()
            done = 0
            while done < len(view):
                got = _pread_into(fd, view[done:], offset + done)
                if got == 0:
                    raise CorruptFileError(
                        f"file ended at byte {offset + done} while reading tensor data "
                        "(truncated after it was opened?)",
                        path=self.path,
                    )
                done += got
            self.bytes_read += done

    def fileno(self) -> int:
        """The open read-only descriptor (for kernel-side copies of tensor bytes)."""
        return self._open_fd()

    def _open_fd(self) -> int:
        # Opened lazily: listing thousands of files must not hold thousands of descriptors.
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            except FileNotFoundError:
                raise ArtifactNotFoundError(
                    "file disappeared after it was opened", path=self.path
                ) from None
        return self._fd

    def close(self) -> None:
        """Release the file descriptor (reopened transparently if :meth:`get` is called)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> SafetensorsFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            if self._fd is not None:
                os.close(self._fd)

    def __repr__(self) -> str:
        return f"SafetensorsFile({str(self.path)!r}, tensors={len(self.tensors)})"


def _pread_into(fd: int, view: memoryview, offset: int) -> int:
    """Read into ``view`` at ``offset`` without a second copy where the OS allows it."""
    if hasattr(os, "preadv"):
        return os.preadv(fd, [view], offset)
    if hasattr(os, "pread"):
        data = os.pread(fd, len(view), offset)
    else:  # pragma: no cover - Windows only
        data = _seek_read(fd, len(view), offset)
    view[: len(data)] = data
    return len(data)


def _seek_read(fd: int, size: int, offset: int) -> bytes:  # pragma: no cover - Windows only
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, size)


def _read_header_bytes(path: Path) -> tuple[bytes, int]:
    """Return (header JSON bytes, file size) after the size checks that need no parsing."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise CorruptFileError("empty file (0 bytes), not a safetensors file", path=path)
            if size < _LEN.size:
                raise CorruptFileError(
                    f"file too short for a safetensors header ({size} bytes, need at least 8)",
                    path=path,
                )
            (n,) = _LEN.unpack(f.read(_LEN.size))
            if n > size - _LEN.size:
                raise CorruptFileError(
                    f"header length {n} exceeds the file size ({size} bytes); "
                    "truncated or not a safetensors file",
                    path=path,
                )
            if n > MAX_HEADER_BYTES:
                raise CorruptFileError(
                    f"header length {n} exceeds the {MAX_HEADER_BYTES}-byte limit", path=path
                )
            header = f.read(n)
    except FileNotFoundError:
        raise ArtifactNotFoundError("no such file", path=path) from None
    except IsADirectoryError:
        raise UnsupportedError("is a directory, not a safetensors file", path=path) from None
    if len(header) != n:  # the file shrank between fstat and read
        raise CorruptFileError(
            f"header truncated: expected {n} bytes, got {len(header)}", path=path
        )
    return header, size


def _parse_header(
    raw: bytes, file_size: int, path: Path
) -> tuple[dict[str, str], dict[str, TensorInfo]]:
    """Decode and validate the header; return (metadata, tensors ordered by offset)."""
    obj = _decode_json_object(raw, path)
    metadata = _parse_metadata(obj.pop(_METADATA_KEY, {}), path)
    header_size = _LEN.size + len(raw)
    entries = [_parse_entry(name, value, path) for name, value in obj.items()]
    _check_layout(entries, file_size - header_size, path)
    tensors = {
        name: TensorInfo(name, dtype, shape, header_size + begin, header_size + end)
        for name, dtype, shape, begin, end in sorted(entries, key=lambda e: (e[3], e[4], e[0]))
    }
    return metadata, tensors


def _decode_json_object(raw: bytes, path: Path) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptFileError(
            f"header is not valid UTF-8 (byte {exc.start + 8})", path=path
        ) from None
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except _DuplicateKey as exc:
        raise CorruptFileError(f"header repeats the key {exc.args[0]!r}", path=path) from None
    except json.JSONDecodeError as exc:
        raise CorruptFileError(
            f"header is not valid JSON ({exc.msg} at header byte {exc.pos})", path=path
        ) from None
    except RecursionError:
        raise CorruptFileError("header JSON is nested too deeply", path=path) from None
    if not isinstance(obj, dict):
        raise CorruptFileError(
            f"header is not a JSON object (got {type(obj).__name__})", path=path
        )
    return obj


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
        raise CorruptFileError(
            "__metadata__ must be an object mapping strings to strings", path=path
        )
    return dict(value)


def _parse_entry(name: str, value: Any, path: Path) -> tuple[str, str, tuple[int, ...], int, int]:
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
    if not isinstance(shape, list) or not all(_is_nonneg_int(d) for d in shape):
        raise CorruptFileError(
            f"tensor {name!r}: shape must be a list of non-negative integers, got {_short(shape)}",
            path=path,
        )
    offsets = value["data_offsets"]
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_nonneg_int(o) for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise CorruptFileError(
            f"tensor {name!r}: data_offsets must be [begin, end] with 0 <= begin <= end, "
            f"got {_short(offsets)}",
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


def _check_layout(
    entries: list[tuple[str, str, tuple[int, ...], int, int]], data_len: int, path: Path
) -> None:
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
        raise CorruptFileError(
            f"{data_len - cursor} unexpected bytes after the last tensor's data", path=path
        )


def _raise_misplaced(
    ordered: list[tuple[str, str, tuple[int, ...], int, int]],
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
        f"tensor {name!r}: data starts at byte {begin} but the previous tensor ends at {cursor} "
        f"({kind})",
        path=path,
    )


def _is_nonneg_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


class SafetensorsWriter:
    """Write a ``.safetensors`` file tensor by tensor, atomically.

    The layout (name, dtype code, shape) is declared up front, which fixes every offset, so the
    header is written first and each tensor is streamed straight to disk by :meth:`write` in
    layout order; at most one tensor's bytes are in flight at a time. Output goes to a hidden
    temp file beside the target (``.<name>.*.tmp``) that :meth:`commit` fsyncs and renames onto
    the target. Leaving the ``with`` block without committing -- by exception, Ctrl-C or just
    forgetting -- deletes the temp file and leaves the target untouched.

    With ``write_behind`` (a byte budget), the file operations run in order on a worker
    thread while the caller prepares the next tensor, holding at most that many bytes of
    queued tensors: a bake computes patched tensors while the kernel is still copying and
    writing the ones before. A tensor passed to :meth:`write` must then not be modified
    afterwards; an I/O error surfaces on the next call or in :meth:`commit`.

    Example::

        with SafetensorsWriter(out, [("a", "F16", (4, 4))], {"k": "v"}) as w:
            w.write("a", tensor)
            w.commit()
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        layout: Sequence[tuple[str, str, tuple[int, ...]]],
        metadata: Mapping[str, str] | None = None,
        *,
        protect: Iterable[str | os.PathLike[str]] = (),
        write_behind: int = 0,
    ) -> None:
        """Plan the file and write its header to the temp file.

        Args:
            path: Target file; replaced only on :meth:`commit`.
            layout: (name, dtype code, shape) per tensor, in the order they will be written.
            metadata: Optional ``__metadata__`` (str -> str).
            protect: Paths that must never be overwritten (the inputs of an operation).
            write_behind: Bytes of tensors that may wait for a background writer thread
                (0: every call writes before it returns).

        Raises:
            ValueError: Invalid layout or metadata, target is protected or is a directory.
            ArtifactNotFoundError: The target's folder does not exist.
        """
        self.path = Path(path)
        _refuse_target(self.path, protect)
        self.tensors: dict[str, TensorInfo] = _plan_layout(layout)
        header = _encode_header(self.tensors, _check_metadata(metadata))
        self.header_size = len(header)
        self._entries = list(self.tensors.values())
        self._next = 0
        self._committed = False
        self._tmp: Path | None = None
        fd, tmp = _make_temp_file(self.path)
        self._tmp = tmp
        self._file = os.fdopen(fd, "wb")
        self._flusher: threading.Thread | None = None
        self._unflushed = 0
        self._worker: _Worker | None = None
        self._guarded(self._file.write, header)
        self.bytes_written = len(header)
        if write_behind > 0:
            self._worker = _Worker(write_behind)

    def write(self, name: str, tensor: torch.Tensor) -> None:
        """Append the next tensor of the layout.

        Args:
            name: Must be the next name in layout order.
            tensor: Must match the declared dtype and shape; any device, any strides.

        Raises:
            ValueError: Out of order, wrong dtype/shape, or the writer is already closed.
        """
        info = self._expect(name)
        code = dtype_code(tensor.dtype)
        if code != info.dtype:
            raise ValueError(f"tensor {name!r}: layout declares {info.dtype}, got {code}")
        if tuple(tensor.shape) != info.shape:
            raise ValueError(
                f"tensor {name!r}: layout declares shape {list(info.shape)}, "
                f"got {list(tensor.shape)}"
            )
        self._append(info, _tensor_bytes(tensor))

    def write_raw(self, name: str, data: bytes | bytearray | memoryview) -> None:
        """Append the next tensor from its raw little-endian bytes (e.g. copied from a file).

        Raises:
            ValueError: Out of order, wrong byte count, or the writer is already closed.
        """
        info = self._expect(name)
        view = memoryview(data).cast("B")
        if view.nbytes != info.nbytes:
            raise ValueError(
                f"tensor {name!r}: layout needs {info.nbytes} bytes, got {view.nbytes}"
            )
        self._append(info, view)

    def replace_metadata(self, metadata: dict[str, str]) -> None:
        """Rewrite the header's metadata before :meth:`commit`; the encoded header must keep
        its size (so tensor offsets stay valid). Lets a value that is only known at the end
        (a hash computed while streaming) be written into a fixed-width placeholder.

        Raises:
            ValueError: The new header would have a different size, or the writer is closed.
        """
        if self._committed or self._tmp is None:
            raise ValueError(f"{self.path}: writer already closed")
        header = _reencode_header(self.tensors, self.header_size, metadata)
        if len(header) != self.header_size:
            raise ValueError(f"{self.path}: new metadata changes the header size "
                             f"({len(header)} != {self.header_size} bytes)")

        def rewrite() -> None:
            self._file.flush()
            os.pwrite(self._file.fileno(), header, 0)

        self._run(rewrite)

    def copy_from(self, name: str, fd: int, offset: int) -> None:
        """Append the next tensor by copying its bytes from ``fd`` at ``offset``, in the kernel
        where it can (``copy_file_range``): untouched tensors of a bake never enter Python.

        Raises:
            ValueError: Out of order, the source ends early, or the writer is already closed.
        """
        info = self._expect(name)

        def copy() -> None:
            self._file.flush()
            out = self._file.fileno()
            left, pos = info.nbytes, offset
            while left:
                n = _copy_range(fd, out, left, pos)
                if n == 0:
                    raise ValueError(f"{self.path}: source ended early while copying {name!r}")
                left -= n
                pos += n
            self._written(info.nbytes)

        self._run(copy)
        self._next += 1

    def commit(self) -> None:
        """Flush, fsync and atomically move the finished file onto the target.

        Raises:
            ValueError: Not every tensor of the layout was written (the temp file is removed).
        """
        if self._committed or self._tmp is None:
            raise ValueError(f"{self.path}: writer already closed")
        if self._next != len(self._entries):
            missing = self._entries[self._next].name
            left = len(self._entries) - self._next
            self.abort()
            raise ValueError(f"{self.path}: {left} tensor(s) never written, first {missing!r}")
        tmp = self._tmp
        self._drain()

        def finish() -> None:
            self._file.flush()
            self._join_flusher()
            os.fsync(self._file.fileno())
            os.replace(tmp, self.path)
            self._file.close()  # after the rename: the temp stays locked while it exists

        self._guarded(finish)
        self._tmp = None
        self._committed = True
        _fsync_dir(self.path.parent)

    def abort(self) -> None:
        """Discard the temp file; the target is left as it was. Safe to call twice."""
        if self._worker is not None:
            self._worker.stop(discard=True)
        self._join_flusher()  # never close the descriptor under a running fsync
        with contextlib.suppress(OSError):
            self._file.close()
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)
            self._tmp = None

    @property
    def committed(self) -> bool:
        """Whether :meth:`commit` succeeded."""
        return self._committed

    def __enter__(self) -> SafetensorsWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._committed:
            self.abort()

    def __del__(self) -> None:
        # Last resort for writers used without `with`: never leave temp files behind.
        with contextlib.suppress(Exception):
            if not self._committed:
                self.abort()

    # -- helpers --------------------------------------------------------------------------

    def _expect(self, name: str) -> TensorInfo:
        if self._committed or self._tmp is None:
            raise ValueError(f"{self.path}: writer already closed")
        if self._next >= len(self._entries):
            raise ValueError(f"{self.path}: tensor {name!r} is beyond the declared layout")
        info = self._entries[self._next]
        if name != info.name:
            raise ValueError(
                f"{self.path}: expected tensor {info.name!r} next (layout order), got {name!r}"
            )
        return info

    def _append(self, info: TensorInfo, data: memoryview) -> None:
        def append() -> None:
            self._file.write(data)
            self._written(info.nbytes)

        self._run(append, info.nbytes)
        self._next += 1

    def _run(self, job: Any, nbytes: int = 0) -> None:
        """Do a file operation now, or queue it for the write-behind thread."""
        if self._worker is None:
            self._guarded(job)
            return
        self._guarded(self._worker.submit, job, nbytes)

    def _drain(self) -> None:
        """Wait for every queued operation; re-raise the first one that failed."""
        if self._worker is not None:
            self._guarded(self._worker.drain)

    def _written(self, nbytes: int) -> None:
        """Count written bytes; every ``_FLUSH_EVERY`` bytes, fsync what is written so far in a
        background thread, so the fsync in :meth:`commit` finds little left to flush (on a
        multi-GB bake it otherwise adds about a second after the last byte)."""
        self.bytes_written += nbytes
        self._unflushed += nbytes
        if self._unflushed >= _FLUSH_EVERY and (self._flusher is None or not self._flusher.is_alive()):
            self._file.flush()
            self._flusher = threading.Thread(target=_fsync_quietly, args=(self._file.fileno(),), daemon=True)
            self._flusher.start()
            self._unflushed = 0

    def _join_flusher(self) -> None:
        if self._flusher is not None:
            self._flusher.join()
            self._flusher = None

    def _guarded(self, fn: Any, *args: Any) -> None:
        # After a failed write the file position is unknown, so the writer cannot continue.
        try:
            fn(*args)
        except BaseException as exc:
            self.abort()
            if isinstance(exc, OSError) and not isinstance(exc, LoradexError):
                raise output_error(exc, self.path) from exc
            raise


_FLUSH_EVERY = 64 << 20


class _Worker:
    """One thread that runs queued file operations in order, with a budget on queued bytes.

    After an operation fails the rest are skipped, and the error is raised in the caller's
    thread by the next :meth:`submit` or by :meth:`drain`.
    """

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._queued = 0
        self._jobs: queue.SimpleQueue[tuple[Any, int] | None] = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._error: BaseException | None = None
        self._discard = False
        self._thread = threading.Thread(target=self._work, name="safetensors-write-behind", daemon=True)
        self._thread.start()

    def submit(self, job: Any, nbytes: int) -> None:
        with self._cond:
            # A tensor over the whole budget still goes through, alone.
            while self._error is None and self._queued and self._queued + nbytes > self._budget:
                self._cond.wait()
            if self._error is not None:
                raise self._error
            self._queued += nbytes
        self._jobs.put((job, nbytes))

    def drain(self) -> None:
        """Wait until every queued operation has run and end the thread."""
        self.stop()
        if self._error is not None:
            raise self._error

    def stop(self, *, discard: bool = False) -> None:
        """End the thread after the running operation; ``discard`` skips the queued ones.
        Safe to call twice."""
        self._discard = self._discard or discard
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()

    def _work(self) -> None:
        while (item := self._jobs.get()) is not None:
            job, nbytes = item
            if self._error is None and not self._discard:
                try:
                    job()
                except BaseException as exc:  # handed to the caller's thread
                    self._error = exc
            with self._cond:
                self._queued -= nbytes
                self._cond.notify_all()


def _fsync_quietly(fd: int) -> None:
    # Errors surface in commit()'s own fsync; this one only starts writeback early.
    with contextlib.suppress(OSError):
        os.fsync(fd)


def _copy_range(src: int, dst: int, count: int, offset: int) -> int:
    """Copy up to ``count`` bytes from ``src`` at ``offset`` to ``dst``'s position."""
    chunk = min(count, 1 << 30)
    if hasattr(os, "copy_file_range"):
        try:
            return os.copy_file_range(src, dst, chunk, offset)
        except OSError:
            pass  # cross-device or unsupported filesystem: fall back to read/write
    data = memoryview(os.pread(src, min(chunk, 8 << 20), offset))
    done = 0
    while done < len(data):
        done += os.write(dst, data[done:])
    return len(data)


def save_tensors(
    path: str | os.PathLike[str],
    tensors: Mapping[str, torch.Tensor],
    metadata: Mapping[str, str] | None = None,
    *,
    protect: Iterable[str | os.PathLike[str]] = (),
) -> None:
    """Atomically write an in-memory dict of tensors as safetensors (dtypes preserved).

    Tensors are ordered like the safetensors library orders them (widest dtype first, then by
    name) so that every tensor's data is aligned to its element size.

    Args:
        path: Target file.
        tensors: Name -> tensor (any device, any strides).
        metadata: Optional ``__metadata__`` (str -> str).
        protect: Paths that must never be overwritten.

    Raises:
        ValueError: Invalid names/metadata or a protected target.
        UnsupportedError: A tensor dtype safetensors cannot store.
    """
    codes = {name: dtype_code(t.dtype) for name, t in tensors.items()}
    order = sorted(tensors, key=lambda n: (-DTYPE_SIZES[codes[n]], n))
    layout = [(name, codes[name], tuple(tensors[name].shape)) for name in order]
    with SafetensorsWriter(path, layout, metadata, protect=protect) as writer:
        for name in order:
            writer.write(name, tensors[name])
        writer.commit()


@contextlib.contextmanager
def atomic_path(
    target: str | os.PathLike[str],
    *,
    directory: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
) -> Iterator[Path]:
    """Yield a hidden temp path beside ``target``; rename it onto ``target`` on success.

    For outputs that are not written by :class:`SafetensorsWriter` (JSON configs, whole
    folders). On any exception, KeyboardInterrupt included, the temp is deleted and ``target``
    is untouched.

    Args:
        target: The final file or folder.
        directory: If true, the temp is an (empty) directory to fill and ``target`` must not
            exist yet; otherwise the temp is an empty file that replaces ``target``.
        protect: Paths that must never be overwritten.

    Returns:
        A context manager yielding the temp path.

    Raises:
        ValueError: ``target`` is protected, or (``directory=True``) already exists, or
            (``directory=False``) is a directory.
        ArtifactNotFoundError: The target's folder does not exist.
    """
    target = Path(target)
    _refuse_target(target, protect, directory=directory)
    lock, tmp = _make_temp_dir(target) if directory else _make_temp_file(target)
    try:
        yield tmp
        if directory:
            if os.path.lexists(target):  # appeared while we were writing
                raise ValueError(f"{target}: already exists; refusing to replace a folder")
        else:
            _fsync_path(tmp)
        os.replace(tmp, target)
    except BaseException as exc:
        _remove_path(tmp)
        # Only a full disk is surely the output's fault; other OSErrors may be an input's.
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL and not isinstance(exc, LoradexError):
            raise output_error(exc, target) from exc
        raise
    finally:
        os.close(lock)  # only now: the temp stays locked until it is renamed or removed
    _fsync_dir(target.parent)


@contextlib.contextmanager
def scratch_dir(beside: str | os.PathLike[str]) -> Iterator[Path]:
    """A hidden, locked temp folder beside ``beside``, removed afterwards whatever happens
    (and, if this process is killed, by the next write of ``beside``); for work whose result
    is compared, not kept, such as a rebuild."""
    lock, tmp = _make_temp_dir(Path(beside))
    try:
        yield tmp
    finally:
        _remove_path(tmp)
        os.close(lock)


def _refuse_target(
    target: Path, protect: Iterable[str | os.PathLike[str]], *, directory: bool = False
) -> None:
    resolved = target.resolve()
    for item in protect:
        guarded = Path(item)
        same = guarded.resolve() == resolved
        if not same and guarded.exists() and target.exists():
            same = os.path.samefile(guarded, target)  # hard links, bind mounts
        if same:
            raise UnsupportedError(f"refusing to overwrite the input file {guarded}", path=target)
    if directory and os.path.lexists(target):
        raise UnsupportedError("already exists; refusing to replace a folder", path=target)
    if not directory and target.is_dir():
        raise UnsupportedError("is a directory, expected a file path", path=target)


def _plan_layout(layout: Sequence[tuple[str, str, tuple[int, ...]]]) -> dict[str, TensorInfo]:
    """Assign contiguous offsets; relative to the data section until the header size is known."""
    planned: dict[str, TensorInfo] = {}
    cursor = 0
    for entry in layout:
        name, code, shape = entry
        if not isinstance(name, str) or name == _METADATA_KEY:
            raise ValueError(f"invalid tensor name {name!r}")
        if name in planned:
            raise ValueError(f"tensor {name!r} appears twice in the layout")
        if code not in DTYPE_SIZES:
            raise ValueError(f"tensor {name!r}: unknown dtype code {code!r}")
        shape = tuple(shape)
        if not all(_is_nonneg_int(d) for d in shape):
            raise ValueError(f"tensor {name!r}: invalid shape {list(shape)}")
        size = math.prod(shape) * DTYPE_SIZES[code]
        planned[name] = TensorInfo(name, code, shape, cursor, cursor + size)
        cursor += size
    return planned


def _encode_header(planned: dict[str, TensorInfo], metadata: dict[str, str] | None) -> bytes:
    """Serialize the header, then shift the planned offsets to absolute ones (in place)."""
    header: dict[str, Any] = {}
    if metadata is not None:
        header[_METADATA_KEY] = metadata
    for info in planned.values():
        header[info.name] = {
            "dtype": info.dtype,
            "shape": list(info.shape),
            "data_offsets": [info.start, info.end],
        }
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    # The spec pads with spaces to a multiple of 8 so the data section starts aligned.
    raw += b" " * (-len(raw) % 8)
    blob = _LEN.pack(len(raw)) + raw
    for name, info in planned.items():
        planned[name] = TensorInfo(
            name, info.dtype, info.shape, info.start + len(blob), info.end + len(blob)
        )
    return blob


def _reencode_header(tensors: dict[str, TensorInfo], header_size: int, metadata: Mapping[str, str] | None) -> bytes:
    """The header for the same tensors (absolute offsets after a ``header_size`` header) with new metadata."""
    relative = {n: TensorInfo(n, i.dtype, i.shape, i.start - header_size, i.end - header_size)
                for n, i in tensors.items()}
    return _encode_header(relative, _check_metadata(metadata))


def _check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str] | None:
    if metadata is None:
        return None
    bad = [k for k, v in metadata.items() if not isinstance(k, str) or not isinstance(v, str)]
    if bad:
        raise ValueError(f"metadata must map str to str; offending key {bad[0]!r}")
    return dict(metadata)


def _tensor_bytes(tensor: torch.Tensor) -> memoryview:
    """Little-endian bytes of ``tensor`` without copying when it is already contiguous on CPU."""
    t = tensor.detach()
    if t.device.type != "cpu":
        t = t.to("cpu")
    t = t.resolve_conj().resolve_neg().contiguous()
    if t.numel() == 0:
        return memoryview(b"")
    flat = t.reshape(-1).view(torch.uint8)
    if sys.byteorder == "big":  # pragma: no cover - no big-endian CI
        flat = flat.reshape(-1, t.element_size()).flip(-1).contiguous().reshape(-1)
    return memoryview(flat.numpy())


# mkstemp/mkdtemp create private (0600/0700) entries; outputs should get the usual
# permissions. Read the umask once, at import, while nothing else can race on it.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def output_error(exc: OSError, target: Path) -> OutputError:
    """A failed write of ``target`` in words a user can act on (the caller has cleaned up)."""
    if exc.errno in _DISK_FULL:
        return DiskSpaceError("the disk filled up while writing; nothing was written (the partial output "
                              "was removed)", path=target)
    return OutputError(f"cannot write ({exc.strerror or exc}); nothing was written", path=target)


_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def _make_temp_file(target: Path) -> tuple[int, Path]:
    """A new hidden temp file beside ``target``: (locked descriptor, path)."""
    _require_parent(target)
    _reclaim_stale_temps(target)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise output_error(exc, target) from exc
    os.chmod(name, 0o666 & ~_UMASK)
    _lock_temp(fd)
    return fd, Path(name)


def _make_temp_dir(target: Path) -> tuple[int, Path]:
    """A new hidden temp folder beside ``target``: (locked descriptor of the folder, path)."""
    _require_parent(target)
    _reclaim_stale_temps(target)
    try:
        path = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    except OSError as exc:
        raise output_error(exc, target) from exc
    os.chmod(path, 0o777 & ~_UMASK)
    fd = os.open(path, os.O_RDONLY)
    _lock_temp(fd)
    return fd, path


#: A temp younger than this is never reclaimed: it may be between creation and its lock.
_STALE_AFTER = 60.0


def _lock_temp(fd: int) -> None:
    """Mark a temp as in use by this process: an exclusive ``flock`` that the kernel drops
    when the process ends, however it ends (SIGKILL, OOM killer included). Best effort: where
    the file system has no locks (some network shares), nothing is reclaimed there either."""
    if fcntl is not None:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _reclaim_stale_temps(target: Path) -> None:
    """Delete temps of ``target`` that writers left when they were killed before cleaning up:
    those nobody holds locked and that are older than a minute. A live writer's temp is
    locked, so two writers of one target never remove each other's work."""
    if fcntl is None:  # pragma: no cover - no flock (Windows): leftovers stay
        return
    for tmp in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        try:
            if time.time() - tmp.lstat().st_mtime < _STALE_AFTER:
                continue
            fd = os.open(tmp, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _remove_path(tmp)
        except OSError:
            pass  # held by a live writer
        finally:
            os.close(fd)


def _require_parent(target: Path) -> None:
    parent = target.parent
    if not parent.is_dir():
        raise ArtifactNotFoundError("output folder does not exist", path=parent)


def _remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    # Makes the rename itself durable; not possible on every platform, hence best effort.
    with contextlib.suppress(OSError):
        _fsync_path(path)
