"""The streaming safetensors writer: :class:`SafetensorsWriter` and :func:`save_tensors`.

Since every size follows from (name, dtype, shape) alone, the header is written first and the
tensors are streamed after it one at a time, so memory stays bounded by one tensor (the
safetensors library's ``save_file`` needs them all at once). Output goes through an atomic
temp (see :mod:`.atomic`); an optional write-behind thread overlaps the caller's work with
the kernel's copying and writing.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, overload

import torch

from loradex.adapters.errors import LoradexError

from .atomic import check_target, create_temp_file, fsync_dir, output_error
from .hashing import FileHashes
from .header import DTYPE_SIZES, TensorInfo
from .header_encoding import encode_header, plan_layout
from .torch_dtypes import dtype_code
from .writer_threads import HashFollower, WriteBehind

__all__ = ["SafetensorsWriter", "save_tensors"]


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
        hashes: bool = False,
    ) -> None:
        """Plan the file and write its header to the temp file.

        Args:
            path: Target file; replaced only on :meth:`commit`.
            layout: (name, dtype code, shape) per tensor, in the order they will be written.
            metadata: Optional ``__metadata__`` (str -> str).
            protect: Paths that must never be overwritten (the inputs of an operation).
            write_behind: Bytes of tensors that may wait for a background writer thread
                (0: every call writes before it returns).
            hashes: Hash the file while it is written (a thread reads back each written range
                from the page cache, kernel copies included); :attr:`hashes` holds the
                :class:`~loradex.adapters.io.hashing.FileHashes` after :meth:`commit`.

        Raises:
            ValueError: Invalid layout or metadata, target is protected or is a directory.
            ArtifactNotFoundError: The target's folder does not exist.
        """
        self.path = Path(path)
        check_target(self.path, protect)
        self.tensors: dict[str, TensorInfo] = plan_layout(layout)
        header = encode_header(self.tensors, metadata)
        self.header_size = len(header)
        self._entries = list(self.tensors.values())
        self._next = 0
        self._committed = False
        self._tmp: Path | None = None
        fd, tmp = create_temp_file(self.path)
        self._tmp = tmp
        self._file = os.fdopen(fd, "wb")
        self._flusher: threading.Thread | None = None
        self._unflushed = 0
        self._worker: WriteBehind | None = None
        self._follower: HashFollower | None = None
        #: The finished file's hashes (with ``hashes=True``, after :meth:`commit`).
        self.hashes: FileHashes | None = None
        self.bytes_written = 0
        if hashes:
            size = len(header) + sum(info.nbytes for info in self._entries)
            self._follower = HashFollower(os.open(tmp, os.O_RDONLY), size)
        self._guarded(self._file.write, header)
        self._written(len(header))
        if write_behind > 0:
            self._worker = WriteBehind(write_behind)

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
            raise ValueError(f"tensor {name!r}: layout declares shape {list(info.shape)}, got {list(tensor.shape)}")
        self._append(info, _tensor_bytes(tensor))

    def write_raw(self, name: str, data: bytes | bytearray | memoryview) -> None:
        """Append the next tensor from its raw little-endian bytes (e.g. copied from a file).

        Raises:
            ValueError: Out of order, wrong byte count, or the writer is already closed.
        """
        info = self._expect(name)
        view = memoryview(data).cast("B")
        if view.nbytes != info.nbytes:
            raise ValueError(f"tensor {name!r}: layout needs {info.nbytes} bytes, got {view.nbytes}")
        self._append(info, view)

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
            if self._follower is not None:
                self.hashes = self._follower.finish()
            os.replace(tmp, self.path)
            self._file.close()  # after the rename: the temp stays locked while it exists

        self._guarded(finish)
        self._tmp = None
        self._committed = True
        fsync_dir(self.path.parent)

    def abort(self) -> None:
        """Discard the temp file; the target is left as it was. Safe to call twice."""
        if self._worker is not None:
            self._worker.stop(discard=True)
        self._join_flusher()  # never close the descriptor under a running fsync
        if self._follower is not None:
            self._follower.stop()
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
            raise ValueError(f"{self.path}: expected tensor {info.name!r} next (layout order), got {name!r}")
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
        if self._follower is not None:
            self._file.flush()  # the follower reads the file, not this object's buffer
            self._follower.advance(self.bytes_written)
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
    # numpy's stubs declare ndarray.__buffer__ only for Python >= 3.12; an ndarray is a buffer on 3.11 too.
    return memoryview(flat.numpy())  # type: ignore[arg-type]


@overload
def save_tensors(
    path: str | os.PathLike[str],
    tensors: Mapping[str, torch.Tensor],
    metadata: Mapping[str, str] | None = None,
    *,
    protect: Iterable[str | os.PathLike[str]] = (),
    hashes: Literal[True],
) -> FileHashes: ...
@overload
def save_tensors(
    path: str | os.PathLike[str],
    tensors: Mapping[str, torch.Tensor],
    metadata: Mapping[str, str] | None = None,
    *,
    protect: Iterable[str | os.PathLike[str]] = (),
    hashes: bool = False,
) -> FileHashes | None: ...
def save_tensors(
    path: str | os.PathLike[str],
    tensors: Mapping[str, torch.Tensor],
    metadata: Mapping[str, str] | None = None,
    *,
    protect: Iterable[str | os.PathLike[str]] = (),
    hashes: bool = False,
) -> FileHashes | None:
    """Atomically write an in-memory dict of tensors as safetensors (dtypes preserved).

    Tensors are ordered like the safetensors library orders them (widest dtype first, then by
    name) so that every tensor's data is aligned to its element size.

    Args:
        path: Target file.
        tensors: Name -> tensor (any device, any strides).
        metadata: Optional ``__metadata__`` (str -> str).
        protect: Paths that must never be overwritten.
        hashes: Hash the file as it is written.

    Returns:
        The file's hashes with ``hashes``, else None.

    Raises:
        ValueError: Invalid names/metadata or a protected target.
        UnsupportedError: A tensor dtype safetensors cannot store.
    """
    codes = {name: dtype_code(t.dtype) for name, t in tensors.items()}
    order = sorted(tensors, key=lambda n: (-DTYPE_SIZES[codes[n]], n))
    layout = [(name, codes[name], tuple(tensors[name].shape)) for name in order]
    with SafetensorsWriter(path, layout, metadata, protect=protect, hashes=hashes) as writer:
        for name in order:
            writer.write(name, tensors[name])
        writer.commit()
    return writer.hashes
