"""The lazy readers: :class:`TensorFile` (any file whose header gives byte ranges: safetensors,
GGUF) and :class:`SafetensorsFile`, with exact byte accounting.

Opening a file reads only its header (see :mod:`.header`, :mod:`.gguf_header`); each tensor is
read on demand, one ``pread`` of its exact byte range, and counted in :attr:`TensorFile.bytes_read`.
torch is imported only by :meth:`SafetensorsFile.get`, the one method that builds tensors.
"""

from __future__ import annotations

import contextlib
import math
import os
import struct
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Self

from loradex.adapters.errors import ArtifactNotFoundError, CorruptFileError, TensorNotFoundError, UnsupportedError

from .header import DTYPE_SIZES, SCALAR_FORMATS, TensorInfo, read_header
from .header_encoding import reencode_header
from .opening import open_regular_fd
from .torch_dtypes import torch_dtype

if TYPE_CHECKING:
    import torch

__all__ = ["SafetensorsFile", "TensorFile", "pread_exactly"]


class TensorFile:
    """A weights file whose header gives each tensor's byte range (safetensors, GGUF): tensors
    read on demand, one exact ``pread`` each, and counted in :attr:`bytes_read`.

    Attributes:
        path: The file.
        tensors: Name -> :class:`TensorInfo`, ordered by data offset.
        data_offset: The absolute file offset where tensor data begins (the header's size).
        bytes_read: Header bytes plus every tensor byte read so far.
    """

    def __init__(self, path: Path, tensors: dict[str, TensorInfo], data_offset: int) -> None:
        self.path = path
        self.tensors = tensors
        self.data_offset = data_offset
        self.bytes_read = data_offset
        self._fd: int | None = None
        self._lock = threading.Lock()

    # -- mapping-like access --------------------------------------------------------------

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

    def read_raw(self, name: str) -> bytearray:
        """Return the raw little-endian bytes of tensor ``name``, exactly as stored, in a new buffer.

        Raises:
            TensorNotFoundError: No tensor of that name.
            CorruptFileError: The file shrank since the header was read.
        """
        info = self.info(name)
        buf = bytearray(info.nbytes)
        self._read_into(buf, info.start)
        return buf

    def get(self, name: str) -> torch.Tensor:
        """Read tensor ``name`` (only its byte range) into a new CPU tensor.

        Returns:
            A tensor with the stored dtype and shape (scalars and zero-size shapes included).

        Raises:
            TensorNotFoundError: No tensor of that name.
            UnsupportedError: This torch build lacks the tensor's dtype (e.g. old torch, fp8), or
                it is no plain dtype (a GGUF's quantised blocks).
            CorruptFileError: The file shrank since the header was read.
        """
        import torch  # here, not at import: opening and probing files must not load torch

        info = self.info(name)
        dtype = torch_dtype(info.dtype)
        if info.nbytes == 0:
            # torch.frombuffer rejects empty buffers.
            return torch.empty(info.shape, dtype=dtype)
        buf = self.read_raw(name)
        if sys.byteorder == "big":  # pragma: no cover - no big-endian CI
            # Stored little-endian: reverse the bytes of every element before reinterpreting.
            raw = torch.frombuffer(buf, dtype=torch.uint8).reshape(-1, DTYPE_SIZES[info.dtype])
            return raw.flip(-1).contiguous().view(dtype).reshape(info.shape)
        return torch.frombuffer(buf, dtype=dtype).reshape(info.shape)

    # -- I/O ------------------------------------------------------------------------------

    def _read_into(self, buf: bytearray, offset: int) -> None:
        """Fill ``buf`` from absolute ``offset``; counts the bytes in :attr:`bytes_read`."""
        with self._lock:
            pread_exactly(self._open_fd(), buf, offset, self.path)
            self.bytes_read += len(buf)

    def fileno(self) -> int:
        """The open read-only descriptor (for kernel-side copies of tensor bytes)."""
        return self._open_fd()

    def _open_fd(self) -> int:
        # Opened lazily: listing thousands of files must not hold thousands of descriptors.
        if self._fd is None:
            try:
                self._fd = open_regular_fd(self.path)
            except ArtifactNotFoundError:
                raise ArtifactNotFoundError("file disappeared after it was opened", path=self.path) from None
        return self._fd

    def close(self) -> None:
        """Release the file descriptor (reopened transparently if :meth:`get` is called)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            if self._fd is not None:
                os.close(self._fd)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, tensors={len(self.tensors)})"


class SafetensorsFile(TensorFile):
    """A validated, lazy view of one ``.safetensors`` file.

    Construction reads only the 8-byte length and the JSON header; tensor data is read on
    demand by :meth:`get` / :meth:`read_raw`, one exact byte range at a time.

    Attributes:
        metadata: The ``__metadata__`` map ({} if absent).
        header_size: ``8 + n``; also the absolute offset where tensor data begins.
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
        header_size, self.metadata, tensors = read_header(Path(path))
        super().__init__(Path(path), tensors, header_size)
        self.header_size = header_size

    def header_with(self, metadata: Mapping[str, str] | None) -> bytes:
        """The header (length prefix included) this file would have with ``metadata`` instead of
        its own: same tensors, same order, offsets shifted to the new header's end."""
        return reencode_header(self.tensors, self.header_size, metadata)

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
        fmt = SCALAR_FORMATS.get(info.dtype)
        if fmt is None:  # fp8 and other rare codes: torch decodes them
            return float(self.get(name).float().reshape(-1)[0])
        # One pread into bytes of its own, not read_raw's buffer and loop: a small LoRA's probe
        # reads ~60 alphas, and the general path cost four times as much per scalar.
        with self._lock:
            raw = pread_bytes(self._open_fd(), info.nbytes, info.start)
            if len(raw) != info.nbytes:
                raise _ended(self.path, info.start + len(raw))
            self.bytes_read += len(raw)
        if info.dtype == "BF16":  # the upper half of a float32
            raw = b"\0\0" + raw
        return float(struct.unpack(fmt, raw)[0])


def pread_exactly(fd: int, buf: bytearray, offset: int, path: Path) -> None:
    """Fill ``buf`` from absolute ``offset`` of the open file ``fd``.

    Raises:
        CorruptFileError: the file ends first (it shrank since its header was read).
    """
    view, done = memoryview(buf), 0
    while done < len(view):
        got = pread_into(fd, view[done:], offset + done)
        if got == 0:
            raise _ended(path, offset + done)
        done += got


def _ended(path: Path, at: int) -> CorruptFileError:
    return CorruptFileError(
        f"file ended at byte {at} while reading tensor data (truncated after it was opened?)", path=path
    )


def pread_into(fd: int, view: memoryview, offset: int) -> int:
    """Read into ``view`` at ``offset`` without a second copy where the OS allows it."""
    if hasattr(os, "preadv"):
        return os.preadv(fd, [view], offset)
    data = pread_bytes(fd, len(view), offset)
    view[: len(data)] = data
    return len(data)


def pread_bytes(fd: int, size: int, offset: int) -> bytes:
    """Up to ``size`` bytes at ``offset`` (fewer only where the file ends)."""
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    return _seek_read(fd, size, offset)  # pragma: no cover - Windows only


def _seek_read(fd: int, size: int, offset: int) -> bytes:  # pragma: no cover - Windows only
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, size)
