"""Uniform, read-only access to any weights file or folder loradex meets.

:func:`open_weights` turns a ``.safetensors`` file, a torch pickle (``.pt``/``.pth``/``.bin``/
``.ckpt``) or a whole model folder (diffusers layout, sharded checkpoints) into a
:class:`WeightSource`: a flat ``key -> tensor`` view with shapes and dtypes.

Safety: pickles are only ever loaded with ``torch.load(..., weights_only=True)`` (see
:mod:`.pickles`). A pickle that needs anything beyond plain tensors and containers is refused
with :class:`~loradex.adapters.errors.RefusedFileError`; nothing here can run code from a file.

torch is imported only to load a pickle or to build a tensor, so opening safetensors files
and reading their shapes, dtypes and scalars (all that probing needs) never loads it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loradex.adapters.errors import ArtifactNotFoundError, CorruptFileError, UnsupportedError
from loradex.adapters.vocabulary import Safety

from . import bounded_json
from .gguf_header import MAGIC as GGUF_MAGIC
from .header import MAX_HEADER_BYTES
from .opening import input_is_dir, open_regular
from .reader import SafetensorsFile
from .sources import TensorFileSource, WeightSource
from .suffixes import GGUF_SUFFIX, PICKLE_SUFFIXES

if TYPE_CHECKING:
    import torch

__all__ = ["open_weights", "sniff_container"]

_ZIP_MAGIC = b"PK\x03\x04"


class _SafetensorsSource(TensorFileSource):
    """Lazy: only the header is read until :meth:`get`."""

    container = "safetensors"
    safety = Safety.SAFETENSORS
    _file: SafetensorsFile

    def __init__(self, path: Path) -> None:
        file = SafetensorsFile(path)
        super().__init__(path, dict(file.metadata), file)

    def scalar(self, key: str) -> float:
        return self._file.scalar(key)

    def raw_range(self, key: str) -> tuple[int, int]:
        return self._file.fileno(), self._file.info(key).start


class _DirectorySource(WeightSource):
    """Several weight files merged; keys are prefixed by each file's subfolder path."""

    def __init__(self, path: Path, children: list[tuple[str, WeightSource]]) -> None:
        index: dict[str, tuple[WeightSource, str]] = {}
        metadata: dict[str, str] = {}
        # Deepest first so that top-level metadata wins the merge.
        for _prefix, child in sorted(children, key=lambda c: -c[0].count(".")):
            metadata.update(child.metadata)
        for prefix, child in children:
            for key in child.keys():
                full = prefix + key
                if full in index:
                    other = index[full][0].path
                    raise UnsupportedError(
                        f"key {full!r} occurs in both {other.name} and {child.path.name}; open the files one at a time",
                        path=path,
                    )
                index[full] = (child, key)
        files = [f for _, child in children for f in child.files]
        super().__init__(path, metadata, files)
        self._children = [child for _, child in children]
        self._index = index
        pickled = any(c.container != "safetensors" for c in self._children)
        self.container = "pickle" if pickled else "safetensors"
        self.safety = Safety.PICKLE_SAFE if pickled else Safety.SAFETENSORS

    def keys(self) -> list[str]:
        return list(self._index)

    def _key_set(self) -> Mapping[str, Any]:
        return self._index

    def _route(self, key: str) -> tuple[WeightSource, str]:
        try:
            return self._index[key]
        except KeyError:
            raise self._missing(key) from None

    def shape(self, key: str) -> tuple[int, ...]:
        child, inner = self._route(key)
        return child.shape(inner)

    def dtype(self, key: str) -> str:
        child, inner = self._route(key)
        return child.dtype(inner)

    def get(self, key: str) -> torch.Tensor:
        child, inner = self._route(key)
        return child.get(inner)

    def scalar(self, key: str) -> float:
        child, inner = self._route(key)
        return child.scalar(inner)

    @property
    def bytes_read(self) -> int:
        return sum(c.bytes_read for c in self._children)

    def close(self) -> None:
        for child in self._children:
            child.close()


# --------------------------------------------------------------------------------------------
# Opening
# --------------------------------------------------------------------------------------------


def open_weights(path: str | os.PathLike[str]) -> WeightSource:
    """Open a weights file or folder as a flat :class:`WeightSource`.

    Args:
        path: A ``.safetensors`` file (read lazily), a ``.gguf`` file (read lazily; quantised
            tensors dequantised when read), a torch pickle (``.pt``, ``.pth``, ``.bin``,
            ``.ckpt``; loaded with ``weights_only=True``), a file with another extension that
            is safetensors or GGUF inside, or a folder of safetensors and pickles (merged; keys
            are prefixed by the subfolder, e.g. ``unet.conv_in.weight``).

    Returns:
        The source; use it as a context manager to release files.

    Raises:
        ArtifactNotFoundError: The path does not exist, or a folder holds no weights.
        CorruptFileError: A file is truncated or malformed.
        RefusedFileError: A pickle would need code execution to load.
        UnreadableFileError: Not a regular file or folder (a FIFO, a device), or the OS
            refuses to open it.
        UnsupportedError: Not a weights format loradex reads.
    """
    p = Path(path)
    if input_is_dir(p):  # raises for dangling symlinks too
        return _open_directory(p)
    return _open_file(p)


def sniff_container(path: str | os.PathLike[str]) -> str | None:
    """Identify a weights container by its leading bytes, whatever its extension.

    Args:
        path: A file.

    Returns:
        ``"safetensors"``, ``"gguf"``, ``"pickle-zip"`` (torch >= 1.6 zip format),
        ``"pickle-legacy"`` (a bare pickle stream, e.g. ``_use_new_zipfile_serialization=False``)
        or ``None``.

    Raises:
        ArtifactNotFoundError: The file does not exist.
        UnreadableFileError: Not a regular file (a FIFO, a device), or the OS refuses to open it.
    """
    with open_regular(path) as f:
        head = f.read(9)
        size = os.fstat(f.fileno()).st_size
    if head.startswith(_ZIP_MAGIC):
        return "pickle-zip"
    if head.startswith(GGUF_MAGIC):
        return "gguf"
    if len(head) == 9 and head[8:9] == b"{":
        n = int.from_bytes(head[:8], "little")
        if 2 <= n <= min(size - 8, MAX_HEADER_BYTES):
            return "safetensors"
    # PROTO opcode; torch.save's legacy format and every pickle since protocol 2 start so.
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle-legacy"
    return None


def _open_file(path: Path) -> WeightSource:
    suffix = path.suffix.lower()
    kind = sniff_container(path)
    if suffix == ".safetensors":
        if kind in ("pickle-zip", "pickle-legacy"):
            # Loading it as a pickle would silently downgrade what the name promises.
            raise CorruptFileError("named .safetensors but holds a torch pickle; refusing to guess", path=path)
        return _SafetensorsSource(path)
    if kind == "safetensors":
        return _SafetensorsSource(path)
    if suffix == GGUF_SUFFIX or kind == "gguf":
        from .gguf_source import GGUFSource  # the gguf package: only GGUF files need it

        return GGUFSource(path)
    if suffix in PICKLE_SUFFIXES:
        from .pickles import PickleSource  # torch: only pickles need it

        return PickleSource(path, kind)
    raise UnsupportedError(
        f"unsupported file type {suffix or '(no extension)'}; expected .safetensors, .gguf, .pt, .pth, .bin or .ckpt",
        path=path,
    )


# --------------------------------------------------------------------------------------------
# Folders
# --------------------------------------------------------------------------------------------

_SHARD = re.compile(r"^(?P<stem>.+)-\d{5}-of-\d{5}$")
# Names diffusers/transformers use for a component's weights; only these (or a name that also
# exists without a suffix) are treated as having variants, so "my.lora.v2" stays itself.
_KNOWN_BASES = frozenset(
    {
        "diffusion_pytorch_model",
        "model",
        "pytorch_lora_weights",
        "learned_embeds",
        "adapter_model",
        "open_clip_pytorch_model",
    }
)
# transformers writes pytorch_model.bin but model.safetensors for the same weights.
_BASE_ALIASES = {"pytorch_model": "model"}
_FORMAT_RANK = {".safetensors": 0, ".bin": 1, ".pt": 2, ".pth": 2, ".ckpt": 3}


@dataclass(frozen=True)
class _Candidate:
    path: Path
    base: str
    variant: str | None
    rank: int


def _open_directory(root: Path) -> WeightSource:
    files = _select_files(root)
    if not files:
        raise ArtifactNotFoundError("directory holds no weights (no .safetensors/.bin/.pt/.ckpt)", path=root)
    children: list[tuple[str, WeightSource]] = []
    try:
        for file in files:
            rel = file.parent.relative_to(root)
            prefix = "".join(f"{part}." for part in rel.parts)
            children.append((prefix, _open_file(file)))
        return _DirectorySource(root, children)
    except BaseException:
        for _, child in children:
            child.close()
        raise


def _select_files(root: Path) -> list[Path]:
    """All weight files under ``root`` after variant/format/shard selection, sorted."""
    chosen: list[Path] = []
    for folder, names in _walk_weight_files(root):
        candidates = _candidates(folder, names)
        groups: dict[str, list[_Candidate]] = {}
        for cand in candidates:
            groups.setdefault(cand.base, []).append(cand)
        picked = [c.path for group in groups.values() for c in _pick(group)]
        _check_shard_indexes(folder, set(picked))
        chosen.extend(sorted(picked))
    return chosen


def _walk_weight_files(root: Path) -> Iterator[tuple[Path, list[str]]]:
    for dirpath, dirnames, filenames in os.walk(root):
        # Hidden folders hold caches (.cache/huggingface), VCS data and our own temp outputs.
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        names = sorted(n for n in filenames if not n.startswith(".") and Path(n).suffix.lower() in _FORMAT_RANK)
        folder = Path(dirpath)
        # A generic .bin may be something else entirely (e.g. OpenVINO weights); skip it
        # rather than fail the whole folder.
        names = [n for n in names if not _foreign_bin(folder / n)]
        if names:
            yield folder, names


def _foreign_bin(path: Path) -> bool:
    return path.suffix.lower() == ".bin" and sniff_container(path) is None


def _candidates(folder: Path, names: list[str]) -> list[_Candidate]:
    stems = {name: _unshard(Path(name).stem) for name in names}
    plain = {_alias(stem) for stem in stems.values()}
    out = []
    for name, stem in stems.items():
        base, variant = _alias(stem), None
        head, dot, tail = stem.rpartition(".")
        if dot and (_alias(head) in plain or _alias(head) in _KNOWN_BASES):
            base, variant = _alias(head), tail
        rank = _FORMAT_RANK[Path(name).suffix.lower()]
        out.append(_Candidate(folder / name, base, variant, rank))
    return out


def _pick(group: list[_Candidate]) -> list[_Candidate]:
    """Plain over variant (else the first variant by name), then the best format, all shards."""
    variants = {c.variant for c in group}
    variant = None if None in variants else min(v for v in variants if v is not None)
    same = [c for c in group if c.variant == variant]
    best = min(c.rank for c in same)
    return [c for c in same if c.rank == best]


def _unshard(stem: str) -> str:
    match = _SHARD.match(stem)
    return match.group("stem") if match else stem


def _alias(base: str) -> str:
    return _BASE_ALIASES.get(base, base)


def _check_shard_indexes(folder: Path, picked: set[Path]) -> None:
    """A shard listed in an index next to the chosen files must exist; else fail loudly."""
    for index in sorted(folder.glob("*.index.json")):
        try:
            weight_map = bounded_json.loads(index.read_text(encoding="utf-8")).get("weight_map", {})
            listed = {folder / str(name) for name in weight_map.values()}
        except (ValueError, AttributeError) as exc:
            raise CorruptFileError(f"unreadable shard index ({exc})", path=index) from None
        if listed & picked:
            missing = sorted(p.name for p in listed if not p.exists())
            if missing:
                raise CorruptFileError(
                    f"shard {missing[0]} listed in the index is missing ({len(missing)} missing in all)",
                    path=index,
                )
