"""What counts as one artifact on disk: weights files, and model folders as a whole.

Walks folders without reading any file (``stat`` only), so a rescan of an unchanged tree
costs a directory walk.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from loradex.adapters.io.hashing import artifact_files
from loradex.adapters.io.opening import not_regular
from loradex.adapters.io.weights import WEIGHT_SUFFIXES
from loradex.adapters.progress import Progress, ProgressEvent

from .sidecar_names import SidecarsBeside

__all__ = ["Found", "artifact_name", "discover"]

_SKIP_DIRS = frozenset({"__pycache__", "node_modules"})  # plus every hidden folder (.cache, .git, our temp outputs)
# Subfolders of a multi-part PEFT adapter are named after the pipeline component they adapt.
_COMPONENTS = frozenset(
    {"unet", "transformer", "text_encoder", "text_encoder_2", "text_encoder_3", "prior", "controlnet"}
)
# A folder with config.json is one model only when its weights carry a diffusers/transformers
# weight name; a folder of LoRAs that happens to hold a config.json is still descended into.
_MODEL_WEIGHTS = frozenset({"diffusion_pytorch_model", "model", "pytorch_model"})
# Weight names that say nothing about the artifact: the folder name is the better name.
_GENERIC = _MODEL_WEIGHTS | {"learned_embeds", "pytorch_lora_weights", "adapter_model"}
_SHARD = re.compile(r"-\d{5}-of-\d{5}$")


@dataclass
class Found:
    """An artifact on disk as discovery saw it (before any read)."""

    path: Path
    is_dir: bool
    size: int
    mtime: float
    error: str | None = None  #: why the path cannot be examined (it becomes an error row)
    #: The names and mtimes of its sidecars (:meth:`~.sidecar_names.SidecarsBeside.signature`): a scan reads
    #: them again when this changes, the file itself unchanged.
    sidecars: str = ""


def discover(roots: Sequence[Path], *, progress: Progress | None = None) -> list[Found]:
    """Every artifact under ``roots``: weights files, and model folders as one artifact each.

    A folder is one artifact (not descended into) when it holds ``model_index.json``,
    ``adapter_config.json`` (or component subfolders such as ``unet/`` each with one), or
    ``config.json`` beside diffusers/transformers-named weights. Hidden folders (``.cache``,
    our ``.*.tmp`` outputs) and non-weight files (sidecars, previews) are skipped.

    A weights-named path that cannot be examined (a symlink loop, a FIFO or other non-regular
    file, a ``stat`` the OS refuses) is found with its ``error``: one error row, and the walk
    goes on. The walk is iterative, so no folder depth stops it.

    Args:
        roots: folders or single files.
        progress: called every 256 artifacts found.

    Returns:
        The artifacts with their size and mtime (for folders: total size and latest mtime of
        their weight and JSON files) and the signature of their sidecars, sorted by path,
        without duplicates.
    """
    # By path as text: hashing and ordering Path objects cost a rescan of 20,000 files more than its stat calls.
    found: dict[str, Found] = {}
    for root in roots:
        if root.is_dir():
            _walk(root, found, progress)
        elif root.suffix.lower() in WEIGHT_SUFFIXES:
            _add_file(str(root), found, _beside(root.parent))
    # Path's order: part by part, which the text has with its separators below every other character.
    return [found[path] for path in sorted(found, key=lambda path: path.replace(os.sep, "\0"))]


def _beside(folder: Path) -> SidecarsBeside:
    try:
        return SidecarsBeside({e.name: e for e in os.scandir(folder)})
    except OSError:
        return SidecarsBeside({})


def _walk(top: Path, found: dict[str, Found], progress: Progress | None) -> None:
    # A stack, not recursion: a folder chain may be deeper than the recursion limit. Each folder
    # goes with its parent's entries, where a model folder's sidecars lie (the root's are read
    # only if the root is one).
    pending: list[tuple[Path, SidecarsBeside | None]] = [(top, None)]
    while pending:
        folder, beside = pending.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue  # an unreadable folder is not a reason to stop; its rows simply stay as they are
        if _is_model_folder(folder, entries):
            _add_model_folder(folder, found, _beside(folder.parent) if beside is None else beside)
            continue
        sidecars = SidecarsBeside({e.name: e for e in entries})
        subfolders: list[tuple[Path, SidecarsBeside | None]] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):  # symlinked folders could loop
                if entry.name not in _SKIP_DIRS:
                    subfolders.append((Path(entry.path), sidecars))
            elif os.path.splitext(entry.name)[1].lower() in WEIGHT_SUFFIXES and _add_file(entry.path, found, sidecars):
                if progress and len(found) % 256 == 0:
                    progress(ProgressEvent("discover", len(found), 0, entry.path))
        pending.extend(reversed(subfolders))


def _add_file(path: str, found: dict[str, Found], beside: SidecarsBeside) -> bool:
    """Add the weights file at ``path`` (following a symlink); True if something was added. A
    dangling symlink is not an artifact; a path that cannot be examined is one with an error."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        found[path] = Found(Path(path), False, 0, 0.0, f"{path}: cannot examine: {exc.strerror or exc}")
        return True
    if stat.S_ISDIR(st.st_mode):  # a symlink to a folder: not followed (it could loop)
        return False
    found[path] = Found(
        (file := Path(path)),
        False,
        st.st_size,
        st.st_mtime,
        None if stat.S_ISREG(st.st_mode) else f"{path}: {not_regular(st.st_mode)}",
        beside.signature(file, False),
    )
    return True


def _add_model_folder(folder: Path, found: dict[str, Found], beside: SidecarsBeside) -> None:
    try:
        files = [(f, f.stat()) for f in artifact_files(folder)]
    except OSError as exc:
        found[str(folder)] = Found(
            folder, True, 0, 0.0, f"{folder}: cannot examine: {exc.filename}: {exc.strerror or exc}"
        )
        return
    found[str(folder)] = Found(
        folder,
        True,
        sum(st.st_size for _, st in files),
        max((st.st_mtime for _, st in files), default=0.0),
        sidecars=beside.signature(folder, True),
    )


def _is_model_folder(folder: Path, entries: list[os.DirEntry]) -> bool:
    names = {e.name for e in entries}
    if "model_index.json" in names or "adapter_config.json" in names:
        return True
    if "config.json" in names and any(
        _SHARD.sub("", n.split(".")[0]) in _MODEL_WEIGHTS for n in names if Path(n).suffix.lower() in WEIGHT_SUFFIXES
    ):
        return True
    # os.path.isfile, unlike Path.is_file, answers False for a folder it may not search instead of raising.
    return any(e.name in _COMPONENTS and os.path.isfile(folder / e.name / "adapter_config.json") for e in entries)


def artifact_name(found: Found) -> str:
    """The catalog name of an artifact: its file stem, or its folder's name for folders and
    for generic weight names (``pytorch_lora_weights``, ``adapter_model``, ...)."""
    path = found.path
    if found.is_dir:
        return path.name
    return path.parent.name if path.stem in _GENERIC and path.parent.name else path.stem
