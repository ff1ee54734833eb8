"""The one exception hierarchy of loradex.

Every error a user can cause derives from :class:`LoradexError` and carries a one-line
message that names the file and the problem, so front ends print it as is. Subclasses also
inherit the builtin they resemble, so callers may catch either.
"""

from __future__ import annotations

import os
from pathlib import Path


class LoradexError(Exception):
    """Root of every error loradex raises on purpose."""

    def __init__(self, message: str, *, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        text = f"{self.path}: {message}" if self.path is not None else message
        # One line, always: a message is printed verbatim by the CLI.
        super().__init__(" ".join(text.split()))


class ArtifactNotFoundError(LoradexError, FileNotFoundError):
    """The path does not exist, or a folder holds no weights loradex can read."""


class CorruptFileError(LoradexError, ValueError):
    """The file is truncated, malformed or internally inconsistent."""


class NonFiniteError(CorruptFileError):
    """An adapter's factors hold NaN or Inf: anything made from it would be broken too."""


class RefusedFileError(LoradexError, PermissionError):
    """The file would need code execution to load (a pickle beyond plain tensors)."""


class UnreadableFileError(LoradexError, OSError):
    """The OS refuses to read the path (permissions, a symlink loop, an I/O error), or it is not
    a regular file (a FIFO, a device, a socket): loradex reads only regular files and folders."""


class TensorNotFoundError(LoradexError, KeyError):
    """A tensor name that the file (or weight source) does not contain."""

    # KeyError.__str__ quotes its argument; keep the plain one-line message instead.
    def __str__(self) -> str:
        return Exception.__str__(self)


class UnsupportedError(LoradexError, ValueError):
    """The file is readable but the requested operation does not apply to it."""


class IncompatibleError(LoradexError, ValueError):
    """An adapter and a base model (or two adapters) do not fit together."""


class OutputError(LoradexError, OSError):
    """An output could not be written (permissions, I/O error, a size limit); the partial
    output was removed and the target left as it was."""


class DiskSpaceError(OutputError):
    """Not enough free disk space for an output; nothing was written."""


class RecipeFileError(LoradexError, ValueError):
    """A TOML recipe file cannot be read or has a missing, unknown or ill-typed field."""


class SettingError(LoradexError, ValueError):
    """An environment setting loradex reads (``LORADEX_THREADS`` …) holds a value it cannot use."""


class InputChangedError(LoradexError):
    """A recipe input is gone or no longer has the recorded content."""


class InterruptedAfterWrite(LoradexError):
    """Ctrl-C arrived after an output was complete on disk; the message says what is there
    (and whether the catalog recorded it). Front ends exit with :attr:`exit_code`."""

    exit_code = 130
