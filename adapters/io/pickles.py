"""Torch pickles (``.pt``/``.pth``/``.bin``/``.ckpt``) as a :class:`~.sources.WeightSource`.

Only ever loaded with ``torch.load(..., weights_only=True)``: a pickle that needs anything beyond
plain tensors and containers is refused with :class:`~loradex.adapters.errors.RefusedFileError`,
so nothing here can run code from a file. Imported by :func:`~.weights.open_weights` only when
a pickle is opened (this module needs torch).
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from loradex.adapters.errors import CorruptFileError, LoradexError, RefusedFileError, UnsupportedError
from loradex.adapters.vocabulary import Safety

from .pickle_globals import unsafe_globals, unvetted_member_globals
from .sources import WeightSource
from .torch_dtypes import dtype_code

__all__ = ["PickleSource"]


class PickleSource(WeightSource):
    """A torch pickle, loaded with ``weights_only=True`` (memory-mapped where the format
    allows) and flattened to dotted keys.

    LDM / Lightning checkpoints (``.ckpt``) keep the model under ``state_dict`` beside training
    state (``global_step``, ``epoch``, sometimes optimizer tensors). Like A1111 and ComfyUI,
    only the inner dict is the model: its keys read as in a ``.safetensors`` checkpoint, the
    scalars beside it become metadata, and tensors beside it are not part of the model.
    """

    container = "pickle"
    safety = Safety.PICKLE_SAFE

    def __init__(self, path: Path, kind: str | None) -> None:
        obj = _safe_torch_load(path, kind)
        tensors: dict[str, torch.Tensor] = {}
        metadata: dict[str, str] = {}
        if isinstance(obj, torch.Tensor):
            tensors["tensor"] = obj.detach()
        elif isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
            _flatten(obj["state_dict"], "", tensors, metadata, path)
            training: dict[str, torch.Tensor] = {}
            _flatten({k: v for k, v in obj.items() if k != "state_dict"}, "", training, metadata, path)
        else:
            _flatten(obj, "", tensors, metadata, path)
        super().__init__(path, metadata, [path])
        self._tensors = tensors
        self._bytes_read = path.stat().st_size

    def keys(self) -> list[str]:
        return list(self._tensors)

    def _key_set(self) -> Mapping[str, Any]:
        return self._tensors

    def _tensor(self, key: str) -> torch.Tensor:
        try:
            return self._tensors[key]
        except KeyError:
            raise self._missing(key) from None

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self._tensor(key).shape)

    def dtype(self, key: str) -> str:
        return dtype_code(self._tensor(key).dtype)

    def get(self, key: str) -> torch.Tensor:
        return self._tensor(key)

    @property
    def bytes_read(self) -> int:
        return self._bytes_read

    def close(self) -> None:
        # Drops the mmap-backed storages so the file can be deleted/replaced (Windows).
        self._tensors = {}


def _safe_torch_load(path: Path, kind: str | None) -> Any:
    """``torch.load`` with ``weights_only=True``, with torch's errors mapped to ours."""
    if kind not in ("pickle-zip", "pickle-legacy"):
        size = path.stat().st_size
        what = "empty file (0 bytes)" if size == 0 else "unrecognised leading bytes"
        raise CorruptFileError(f"not a torch checkpoint ({what})", path=path)
    if kind == "pickle-zip":
        _refuse_unsafe_members(path)
    try:
        with warnings.catch_warnings():
            # e.g. "Detected pickle protocol 4": noise for users, not actionable.
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True, mmap=kind == "pickle-zip")
    except LoradexError:
        raise
    except (pickle.UnpicklingError, RuntimeError) as exc:
        message = str(exc)
        reason = _torch_reason(message)
        # Any complaint of the weights-only unpickler is a refusal: the stream is a pickle
        # (the magic bytes said so) that asks for more than tensors and containers.
        if "weights_only" in message or "Weights only" in message:
            raise RefusedFileError(
                "refused to load: the pickle needs code execution beyond plain tensors "
                f"({reason}); convert it to safetensors with a tool you trust",
                path=path,
            ) from exc
        raise CorruptFileError(f"cannot read torch checkpoint: {reason}", path=path) from exc
    except (EOFError, ValueError, TypeError, KeyError, AttributeError, OSError) as exc:
        reason = _torch_reason(str(exc)) or type(exc).__name__
        raise CorruptFileError(f"cannot read torch checkpoint: {reason}", path=path) from exc


def _refuse_unsafe_members(path: Path) -> None:
    """Refuse a torch zip whose pickle members that torch never unpickles (another tool might)
    import more than tensors and containers, naming the globals as picklescan reports them."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = unvetted_member_globals(archive)
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # torch.load says what is wrong with the zip
    unsafe = {name: bad for name, found in members.items() if (bad := unsafe_globals(found))}
    if unsafe:
        listed = "; ".join(f"{name}: {', '.join(bad[:5])}" for name, bad in unsafe.items())
        raise RefusedFileError(
            f"refused to load: a pickle member imports code execution beyond plain tensors ({listed}); "
            "convert it to safetensors with a tool you trust",
            path=path,
        )


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _torch_reason(message: str) -> str:
    """Pull the informative first line out of torch's multi-paragraph load errors."""
    text = _ANSI.sub("", message).split("Check the documentation of torch.load")[0]
    if "WeightsUnpickler error:" in text:
        text = text.rsplit("WeightsUnpickler error:", 1)[1]
    elif text.startswith("Weights only load failed"):
        # The unpickler's own message is the last paragraph after torch's boilerplate.
        paragraphs = [p for p in text.split("\n\n") if p.strip()]
        text = paragraphs[-1] if len(paragraphs) > 1 else text
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    # First sentence only: drops torch's "Please use add_safe_globals(...)" advice (we never
    # allowlist) and miniz's "This is an internal miniz error..." boilerplate.
    first = first.split(". ")[0].rstrip(".")
    return first[:200]


def _flatten(
    obj: Any,
    prefix: str,
    tensors: dict[str, torch.Tensor],
    metadata: dict[str, str],
    path: Path,
) -> None:
    """Flatten nested dicts/lists into dotted keys; non-tensor leaves become metadata."""
    if isinstance(obj, torch.Tensor):
        if prefix in tensors:
            raise UnsupportedError(f"key {prefix!r} occurs twice after flattening", path=path)
        tensors[prefix] = obj.detach()
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            _flatten(value, _join(prefix, str(key)), tensors, metadata, path)
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            _flatten(value, _join(prefix, str(i)), tensors, metadata, path)
    else:
        metadata[prefix or "value"] = str(obj)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key
