"""The base class of every weight source: a flat, read-only ``key -> tensor`` view, and the base of
those over one file whose header gives each tensor's byte range.

:func:`~.weights.open_weights` picks the implementation (safetensors files and folders in
:mod:`.weights`, GGUF in :mod:`.gguf_source`, torch pickles in :mod:`.pickles`); the
implementations import this module, not the factory that picks them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loradex.adapters.errors import TensorNotFoundError, UnsupportedError

from .reader import TensorFile

if TYPE_CHECKING:
    import torch

__all__ = ["TensorFileSource", "WeightSource"]


class WeightSource:
    """A flat, read-only ``key -> tensor`` view of one weights file or folder.

    Attributes:
        path: What was opened (file or folder).
        container: ``"safetensors"`` or ``"pickle"`` (a folder is ``"pickle"`` if any file is).
        safety: ``"safetensors"`` (no code path to execution at all) or ``"pickle-safe"``
            (a pickle loaded with ``weights_only=True``).
        metadata: String metadata (safetensors ``__metadata__``, or a pickle's non-tensor leaves).
        files: The underlying weight files.
    """

    container: str
    safety: str

    def __init__(self, path: Path, metadata: dict[str, str], files: list[Path]) -> None:
        self.path = path
        self.metadata = metadata
        self.files = files

    def keys(self) -> list[str]:
        """All tensor keys, in a stable order."""
        raise NotImplementedError

    def shape(self, key: str) -> tuple[int, ...]:
        """Shape of ``key`` (no tensor data is read for safetensors).

        Raises:
            TensorNotFoundError: Unknown key.
        """
        raise NotImplementedError

    def dtype(self, key: str) -> str:
        """Safetensors dtype code of ``key``, e.g. ``"F16"``.

        Raises:
            TensorNotFoundError: Unknown key.
            UnsupportedError: A pickled tensor whose dtype safetensors cannot express.
        """
        raise NotImplementedError

    def layout(self) -> tuple[tuple[str, str, tuple[int, ...]], ...]:
        """Every tensor's (key, dtype, shape), in :meth:`keys` order: what the files that store the
        same tensors share (probe keeps what it decided from them by this)."""
        return tuple((k, self.dtype(k), self.shape(k)) for k in self.keys())

    def get(self, key: str) -> torch.Tensor:
        """The tensor stored under ``key`` (on CPU).

        Raises:
            TensorNotFoundError: Unknown key.
        """
        raise NotImplementedError

    def scalar(self, key: str) -> float:
        """The value of a one-element tensor (an alpha).

        Raises:
            TensorNotFoundError: Unknown key.
            UnsupportedError: The tensor holds more than one value.
        """
        t = self.get(key)
        if t.numel() != 1:
            raise UnsupportedError(f"tensor {key!r} holds {t.numel()} values, not one", path=self.path)
        return float(t.float().reshape(-1)[0])

    def raw_range(self, key: str) -> tuple[int, int] | None:
        """(open descriptor, offset) of ``key``'s bytes where a file stores them as they are
        (safetensors), for copies in the kernel; None where it does not (pickles)."""
        return None

    @property
    def bytes_read(self) -> int:
        """Bytes read from disk so far (a pickle counts its whole file once loaded)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release file handles and loaded tensors."""

    def __contains__(self, key: object) -> bool:
        return key in self._key_set()

    def __len__(self) -> int:
        return len(self.keys())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __enter__(self) -> WeightSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, keys={len(self)})"

    def _key_set(self) -> set[str] | Mapping[str, Any]:
        return set(self.keys())

    def _missing(self, key: str) -> TensorNotFoundError:
        return TensorNotFoundError(f"no tensor named {key!r}", path=self.path)


class TensorFileSource(WeightSource):
    """One :class:`~.reader.TensorFile` (a safetensors or GGUF file): keys, shapes and dtypes from
    its header, each tensor read when asked for."""

    def __init__(self, path: Path, metadata: dict[str, str], file: TensorFile) -> None:
        super().__init__(path, metadata, [path])
        self._file = file

    def keys(self) -> list[str]:
        return self._file.keys()

    def _key_set(self) -> Mapping[str, Any]:
        return self._file.tensors

    def shape(self, key: str) -> tuple[int, ...]:
        return self._file.info(key).shape

    def dtype(self, key: str) -> str:
        return self._file.info(key).dtype

    def layout(self) -> tuple[tuple[str, str, tuple[int, ...]], ...]:
        # From the header's entries directly: a small LoRA's 177 tensors through shape() and
        # dtype() were a tenth of its probe.
        return tuple((t.name, t.dtype, t.shape) for t in self._file.tensors.values())

    def get(self, key: str) -> torch.Tensor:
        return self._file.get(key)

    @property
    def bytes_read(self) -> int:
        return self._file.bytes_read

    def close(self) -> None:
        self._file.close()
