"""What counts as one artifact on disk: weights files, and model folders as a whole.

Walks folders without reading any file (``stat`` only), so a rescan of an unchanged tree
costs a directory walk; and a file the catalog already holds as it is (:func:`changes`) costs
its ``stat`` and a set lookup, no object of its own.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISDIR, S_ISREG

from loradex.adapters.io.opening import not_regular
from loradex.adapters.io.suffixes import WEIGHT_SUFFIXES
from loradex.adapters.progress import Progress, ProgressEvent

from .sidecar_names import SidecarsBeside

__all__ = ["Changes", "Found", "artifact_name", "changes", "discover"]

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
_WEIGHT_SUFFIXES = tuple(WEIGHT_SUFFIXES)  # for str.endswith: each has one dot, so it is the name's last suffix
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


@dataclass
class Changes:
    """What :func:`changes` found: the artifacts as :func:`discover` returns them, less those the
    catalog holds as they are, which are only counted by path."""

    found: list[Found] = field(default_factory=list)
    #: The paths of the artifacts found exactly as one of the ``settled`` rows describes them.
    settled: set[str] = field(default_factory=set)


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
    return changes(roots, frozenset(), progress=progress).found


def changes(
    roots: Sequence[Path], settled: Collection[tuple[str, int, float, str]], *, progress: Progress | None = None
) -> Changes:
    """:func:`discover`'s walk, which leaves out of ``found`` each regular file and model folder
    whose (path as text, size, mtime, sidecar signature) is in ``settled`` (what the catalog holds;
    :func:`~loradex.registry.queries.scanned.settled_under`): for those only the path is kept, and
    no :class:`Found` nor :class:`~pathlib.Path` is made, the bulk of a rescan's work otherwise."""
    # By path as text: hashing and ordering Path objects cost a rescan of 20,000 files more than its stat calls.
    walk = _Walk(settled, progress)
    for root in roots:
        if root.is_dir():
            walk.tree(str(root))
        elif root.suffix.lower() in WEIGHT_SUFFIXES:
            walk.file(str(root), root.stem, _beside(str(root.parent)))
    # Path's order: part by part, which the text has with its separators below every other character.
    found = walk.found
    return Changes([found[path] for path in sorted(found, key=lambda path: path.replace(os.sep, "\0"))], walk.settled)


def _beside(folder: str) -> SidecarsBeside:
    try:
        with os.scandir(folder) as entries:
            return SidecarsBeside(list(entries))
    except OSError:
        return SidecarsBeside(())


class _Walk:
    """One walk of :func:`changes`: what it found so far, by path."""

    def __init__(self, settled: Collection[tuple[str, int, float, str]], progress: Progress | None) -> None:
        self.settled_rows, self.progress = settled, progress
        self.found: dict[str, Found] = {}
        self.settled: set[str] = set()

    def tree(self, top: str) -> None:
        # A stack, not recursion: a folder chain may be deeper than the recursion limit. Each folder
        # goes with its parent's entries, where a model folder's sidecars lie (the root's are read
        # only if the root is one).
        pending: list[tuple[str, SidecarsBeside | None]] = [(top, None)]
        while pending:
            folder, beside = pending.pop()
            try:
                with os.scandir(folder) as listing:
                    entries = list(listing)
            except OSError:
                continue  # an unreadable folder is not a reason to stop; its rows simply stay as they are
            if _is_model_folder(folder, entries):
                self.model_folder(folder, _beside(os.path.dirname(folder)) if beside is None else beside)
                continue
            sidecars = SidecarsBeside(entries)
            for entry in entries:
                name = entry.name
                if name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):  # symlinked folders could loop
                    if name not in _SKIP_DIRS:
                        pending.append((entry.path, sidecars))
                elif name.lower().endswith(_WEIGHT_SUFFIXES) and self.file(
                    entry.path, name[: name.rfind(".")], sidecars
                ):
                    if self.progress and (count := len(self.found) + len(self.settled)) % 256 == 0:
                        self.progress(ProgressEvent("discover", count, 0, entry.path))

    def file(self, path: str, stem: str, beside: SidecarsBeside) -> bool:
        """Add the weights file at ``path`` (following a symlink); True if something was added. A
        dangling symlink is not an artifact; a path that cannot be examined is one with an error."""
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            self.found[path] = Found(Path(path), False, 0, 0.0, f"{path}: cannot examine: {exc.strerror or exc}")
            return True
        sidecars = beside.signature(stem)
        if S_ISREG(st.st_mode):
            if (path, st.st_size, st.st_mtime, sidecars) in self.settled_rows:
                self.settled.add(path)
            else:
                self.found[path] = Found(Path(path), False, st.st_size, st.st_mtime, None, sidecars)
        elif S_ISDIR(st.st_mode):  # a symlink to a folder: not followed (it could loop)
            return False
        else:
            self.found[path] = Found(Path(path), False, st.st_size, st.st_mtime, f"{path}: {not_regular(st.st_mode)}")
        return True

    def model_folder(self, folder: str, beside: SidecarsBeside) -> None:
        # Imported here: hashing's threads and hashers are more than a rescan of a LoRA folder needs.
        from loradex.adapters.io.hashing import artifact_files

        try:
            files = [f.stat() for f in artifact_files(Path(folder))]
        except OSError as exc:
            self.found[folder] = Found(
                Path(folder), True, 0, 0.0, f"{folder}: cannot examine: {exc.filename}: {exc.strerror or exc}"
            )
            return
        size, mtime = sum(st.st_size for st in files), max((st.st_mtime for st in files), default=0.0)
        sidecars = beside.signature(os.path.basename(folder))
        if (folder, size, mtime, sidecars) in self.settled_rows:
            self.settled.add(folder)
        else:
            self.found[folder] = Found(Path(folder), True, size, mtime, sidecars=sidecars)


def _is_model_folder(folder: str, entries: list[os.DirEntry[str]]) -> bool:
    names = {e.name for e in entries}
    if "model_index.json" in names or "adapter_config.json" in names:
        return True
    if "config.json" in names and any(
        _SHARD.sub("", n.split(".")[0]) in _MODEL_WEIGHTS
        for n in names
        if os.path.splitext(n)[1].lower() in WEIGHT_SUFFIXES
    ):
        return True
    # os.path.isfile, unlike Path.is_file, answers False for a folder it may not search instead of raising.
    return any(os.path.isfile(os.path.join(folder, name, "adapter_config.json")) for name in names & _COMPONENTS)


def artifact_name(found: Found) -> str:
    """The catalog name of an artifact: its file stem, or its folder's name for folders and
    for generic weight names (``pytorch_lora_weights``, ``adapter_model``, ...)."""
    path = found.path
    if found.is_dir:
        return path.name
    return path.parent.name if path.stem in _GENERIC and path.parent.name else path.stem
