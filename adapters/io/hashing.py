"""The hashes users look artifacts up by, computed in one pass over each file.

* ``sha256`` of the whole file (Civitai, the Hub);
* ``autov2``: its first 10 hex digits (A1111 and Civitai show this one);
* ``tensor_hash``: the kohya/A1111 "addnet" hash, sha256 of the bytes after the safetensors
  header (what kohya writes as ``sshs_model_hash``, and SAI's model spec as
  ``modelspec.hash_sha256``). Editing a file's metadata changes its sha256 but not this, so it
  identifies the weights themselves;
* ``autov3``: Civitai's AutoV3, the first 12 hex digits of ``tensor_hash`` (safetensors only);
* ``blake3`` of the whole file (Stability Matrix and InvokeAI index by it) and ``crc32``
  (8 hex digits), both of which Civitai answers to as well;
* ``model_hash``: A1111's legacy checkpoint hash, the first 8 hex of sha256 of 64 KiB at
  offset 1 MiB.

All come from a single sequential read, each chunk fed to every hasher: hashlib, blake3 and
ISA-L release the GIL on large updates, so several files hash in parallel threads, and a big
file's hashers share the chunk across threads (see :class:`StreamHasher`).

A folder artifact (diffusers pipeline, PEFT or ControlNet folder) is hashed through its weight
and JSON files: see :func:`artifact_files` and :func:`hash_file`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from blake3 import blake3
from isal.isal_zlib import crc32

from .header import MAX_HEADER_BYTES
from .opening import open_regular
from .reader import SafetensorsFile
from .suffixes import WEIGHT_SUFFIXES

__all__ = [
    "CHUNK_SIZE",
    "EMPTY_SHA256",
    "FileHashes",
    "StreamHasher",
    "artifact_files",
    "cached_sha256",
    "folder_hashes",
    "hash_file",
    "prefetch_sha256",
    "sha256_file",
]

#: Reads of 4 MiB: each hasher's update waits for the GIL once per chunk (a scan probes in
#: another thread meanwhile), so fewer, larger chunks keep hashing at full speed.
CHUNK_SIZE = 4 << 20
#: sha256 of no bytes: the tensor hash of a safetensors file without tensors, which says nothing.
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

_MODEL_HASH_OFFSET = 0x100000
_MODEL_HASH_SIZE = 0x10000
_FOLDER_SUFFIXES = WEIGHT_SUFFIXES | {".json"}
#: Files from this size on are hashed with every hasher in its own thread: below it, a thread
#: hand-off per chunk costs more than it saves (a LoRA of a few MiB is one or two chunks).
PARALLEL_FROM = 64 << 20


@dataclass
class FileHashes:
    """The hashes of one file or folder artifact.

    Attributes:
        sha256: hex sha256 of the file (of the sorted file list for a folder).
        tensor_hash: hex sha256 of the tensor data (after the safetensors header); None for
            pickles and for folders holding any pickle.
        model_hash: A1111's legacy 8-hex hash; None for files of at most 1 MiB and for folders.
        blake3: hex BLAKE3 of the file (for a folder: of its file list, as ``sha256``).
        crc32: the file's CRC-32 as 8 hex digits (for a folder: of its file list, as ``sha256``).
        autov2: the first 10 hex digits of ``sha256``.
        autov3: Civitai's AutoV3, the first 12 hex digits of ``tensor_hash``; None for
            anything but a safetensors file (Civitai defines it for nothing else).
    """

    sha256: str
    tensor_hash: str | None
    model_hash: str | None
    blake3: str
    crc32: str
    autov3: str | None
    autov2: str = field(init=False)

    def __post_init__(self) -> None:
        self.autov2 = self.sha256[:10]


def artifact_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The files that make a folder artifact: weights and JSON, hidden ones excluded, sorted.

    READMEs, tokenizer vocabularies in text form and caches do not change what the artifact
    computes, so they are neither hashed nor watched for changes.

    Args:
        folder: a diffusers / PEFT / ControlNet folder.

    Returns:
        Absolute paths, sorted by their path relative to ``folder``.
    """
    root = Path(folder)
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found += [
            Path(dirpath) / n for n in filenames if not n.startswith(".") and Path(n).suffix.lower() in _FOLDER_SUFFIXES
        ]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def hash_file(path: str | os.PathLike[str]) -> FileHashes:
    """Hash a file (one read) or a folder artifact.

    For a folder, ``sha256`` is the sha256 of the lines ``"<relative path>\\t<file sha256>\\n"``
    over :func:`artifact_files`, ``blake3`` and ``crc32`` the same with the files' BLAKE3 and
    CRC-32 (what a folder "is" stays defined by its files, whichever hash names them),
    ``tensor_hash`` the same over the weight files' tensor hashes (None when any weight file is
    a pickle), and ``autov3`` None.

    Args:
        path: a file or a folder artifact.

    Returns:
        The :class:`FileHashes`.

    Raises:
        OSError: the file cannot be read (permissions, vanished, I/O error).
    """
    path = Path(path)
    if path.is_dir():
        return folder_hashes(path)
    return _hash_one(path)


def _hash_one(path: Path) -> FileHashes:
    with open_regular(path, buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        hasher = StreamHasher(size, parallel=size >= PARALLEL_FROM)
        # A buffer no larger than the file: a small LoRA is one read into a small buffer.
        for chunk in _chunks(f, min(CHUNK_SIZE, hasher.size + 1)):
            hasher.update(chunk)
    return hasher.result()


def _chunks(f: io.RawIOBase, size: int) -> Iterator[memoryview]:
    """The file's bytes in ``size``-byte chunks, all read into one reused buffer."""
    buf = bytearray(size)
    view = memoryview(buf)
    while n := f.readinto(buf):
        yield view[:n]


class StreamHasher:
    """The hashes of a file of known ``size`` from its bytes fed in order, in chunks of any
    length: :func:`hash_file` feeds what it reads, a writer what it wrote (so an output is never
    read a second time to be recorded). Every hasher takes the same chunk; the tensor hash
    (AutoV3's) takes it from the end of the safetensors header on.

    With ``parallel``, each chunk is hashed in three threads at once (whole-file sha256 here, the
    tensor sha256 and BLAKE3 + CRC-32 in two helpers; all release the GIL): the hashes' CPU is
    about three sha256 passes, so a big file takes about a third of the serial time on free
    cores (a scan's last checkpoint, a bake's output), and no more than serial on busy ones.
    The CRC-32 is ISA-L's (PCLMUL, ≈ 9 GB/s) rather than zlib's (≈ 3 GB/s): it is the same
    polynomial and value. The caller must keep a chunk's memory unchanged until
    :meth:`update` returns, as it does anyway.
    """

    def __init__(self, size: int, *, parallel: bool = False) -> None:
        self.size = size
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="loradex-hash") if parallel else None
        self._whole = hashlib.sha256()
        self._blake3 = blake3()
        self._crc32 = 0
        self._tensors: hashlib._Hash | None = None
        self._model: hashlib._Hash | None = None
        self._data_start = 0
        self._offset = 0
        self._head = b""

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        chunk = memoryview(chunk)
        offset, end = self._offset, self._offset + len(chunk)
        if offset < 9 and self._tensors is None:  # the first 9 bytes say whether this is safetensors
            self._head += bytes(chunk[: 9 - offset])
            if len(self._head) >= 9 or end >= self.size:
                self._data_start = _safetensors_data_start(self._head, self.size)
                if self._data_start:
                    self._tensors = hashlib.sha256()
        tensors = self._tensors
        tensor_part = (
            chunk[max(0, self._data_start - offset) :] if tensors is not None and end > self._data_start else None
        )
        if self._pool is None:
            self._whole.update(chunk)
            self._checksums(chunk)
            self._tensor_hash(tensor_part)
        else:
            beside = (
                self._pool.submit(self._checksums, chunk),
                self._pool.submit(self._tensor_hash, tensor_part),
            )
            self._whole.update(chunk)
            for job in beside:
                job.result()
        # The legacy window may straddle chunk boundaries.
        lo, hi = max(offset, _MODEL_HASH_OFFSET), min(end, _MODEL_HASH_OFFSET + _MODEL_HASH_SIZE)
        if lo < hi:
            self._model = self._model or hashlib.sha256()
            self._model.update(chunk[lo - offset : hi - offset])
        self._offset = end

    def _checksums(self, chunk: memoryview) -> None:
        self._blake3.update(chunk)
        self._crc32 = crc32(chunk, self._crc32)

    def _tensor_hash(self, tensor_part: memoryview | None) -> None:
        if self._tensors is not None and tensor_part is not None:
            self._tensors.update(tensor_part)

    def close(self) -> None:
        """End the helper thread (a writer that abandons its file); :meth:`result` does too."""
        if self._pool is not None:
            self._pool.shutdown()

    def result(self) -> FileHashes:
        """The hashes of what was fed."""
        self.close()
        tensor = self._tensors.hexdigest() if self._tensors else None
        return FileHashes(
            sha256=self._whole.hexdigest(),
            tensor_hash=tensor,
            model_hash=self._model.hexdigest()[:8] if self._model else None,
            blake3=self._blake3.hexdigest(),
            crc32=f"{self._crc32:08x}",
            autov3=tensor[:12] if tensor else None,
        )


def _safetensors_data_start(head: bytes, size: int) -> int:
    """Where the tensor data starts if ``head`` opens a safetensors file, else 0.

    Decided by content, not by name (as the readers of the field do): an 8-byte header length
    that fits the file, followed by a JSON object.
    """
    if len(head) < 9 or head[8:9] != b"{":
        return 0
    n = int.from_bytes(head[:8], "little")
    # The reader refuses larger headers; a bigger length field means "not safetensors".
    if not 2 <= n <= min(size - 8, MAX_HEADER_BYTES):
        return 0
    return 8 + n


def folder_hashes(folder: Path, known: Mapping[str, FileHashes] | None = None) -> FileHashes:
    """The hashes of a folder artifact (see :func:`hash_file`); files whose hashes are
    ``known`` (by path relative to ``folder``, e.g. from the writer that wrote them) are not read."""
    whole, blake, crc, tensors = hashlib.sha256(), blake3(), 0, hashlib.sha256()
    pickled = False
    for file in artifact_files(folder):
        rel = file.relative_to(folder).as_posix()
        got = (known or {}).get(rel) or _hash_one(file)
        whole.update(f"{rel}\t{got.sha256}\n".encode())
        blake.update(f"{rel}\t{got.blake3}\n".encode())
        crc = crc32(f"{rel}\t{got.crc32}\n".encode(), crc)
        if file.suffix.lower() in WEIGHT_SUFFIXES:
            if got.tensor_hash is None:
                pickled = True
            else:
                tensors.update(f"{rel}\t{got.tensor_hash}\n".encode())
    return FileHashes(
        sha256=whole.hexdigest(),
        tensor_hash=None if pickled else tensors.hexdigest(),
        model_hash=None,
        blake3=blake.hexdigest(),
        crc32=f"{crc:08x}",
        autov3=None,
    )


def sha256_file(path: str | os.PathLike[str]) -> str:
    """sha256 of a file (one digest pass, nothing else), or of a folder artifact as
    :func:`hash_file` defines it."""
    path = Path(path)
    if path.is_dir():
        return hash_file(path).sha256
    digest = hashlib.sha256()
    # 16 MiB reads, not file_digest's 256 KiB: a thread hashing beside busy Python code (a base
    # hashed while torch imports) waits for the GIL once per chunk, so few chunks keep it fast.
    with open_regular(path, buffering=0) as f:
        for chunk in _chunks(f, 16 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_with_metadata(path: str | os.PathLike[str], metadata: dict[str, str]) -> str:
    """The sha256 a safetensors file would have with ``metadata`` in its header instead of its
    own (the tensors and their bytes unchanged), without writing that file."""
    with SafetensorsFile(path) as sf, open_regular(path) as f:
        digest = hashlib.sha256(sf.header_with(metadata))
        f.seek(sf.data_offset)
        while chunk := f.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _cache_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("loradex")) / "sha256.json"


def cached_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file, remembered per (path, size, mtime, inode) in the user cache dir.

    Baking many LoRAs into one base re-hashes a multi-GB file each time otherwise; the catalog
    makes the same size+mtime assumption for rescans. Folders are not cached. Callers in one
    process share a computation in progress (see :func:`prefetch_sha256`).
    """
    path = Path(path).resolve()
    if path.is_dir():
        return sha256_file(path)
    st = path.stat()
    key, stamp = str(path), [st.st_size, st.st_mtime_ns, st.st_ino]
    cache_file = _cache_path()
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    hit = cache.get(key)
    if isinstance(hit, dict) and hit.get("stamp") == stamp:
        return hit["sha256"]
    with _IN_FLIGHT_LOCK:
        running = _IN_FLIGHT.get((key, *stamp))
        if running is None:
            mine = _IN_FLIGHT[(key, *stamp)] = Future()
    if running is not None:
        return running.result()
    try:
        digest = sha256_file(path)
        cache[key] = {"stamp": stamp, "sha256": digest}
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(cache))
            tmp.replace(cache_file)
        except OSError:
            pass  # an unwritable cache only costs time
        mine.set_result(digest)
        return digest
    except BaseException as exc:
        mine.set_exception(exc)
        raise
    finally:
        with _IN_FLIGHT_LOCK:
            del _IN_FLIGHT[(key, *stamp)]


def prefetch_sha256(path: str | os.PathLike[str]) -> None:
    """Start :func:`cached_sha256` of ``path`` in a background thread, so that a later call
    (e.g. a bake's) finds it done or joins it: the command line hashes a base while torch
    imports. hashlib and file reads release the GIL, so it runs beside Python work. Errors are
    left for the later call to meet."""

    def run() -> None:
        with contextlib.suppress(Exception):
            cached_sha256(path)

    threading.Thread(target=run, name="loradex-prefetch-sha256", daemon=True).start()


#: cached_sha256 computations in progress, by (path, size, mtime, inode).
_IN_FLIGHT: dict[tuple, Future] = {}
_IN_FLIGHT_LOCK = threading.Lock()
