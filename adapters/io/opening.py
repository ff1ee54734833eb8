"""Opening input files: regular files only, with the OS's refusals as one-line errors.

``open()`` of a FIFO waits for a writer (forever, for a file named ``x.safetensors`` that is
one), and a device node reads without end. Every input file is opened here: non-blocking, so a
FIFO's open returns at once, then checked with ``fstat`` on the open descriptor (no window for
the path to be swapped between the check and the read).
"""

from __future__ import annotations

import io
import os
import stat
from typing import BinaryIO, Literal, overload

from loradex.adapters.errors import ArtifactNotFoundError, UnreadableFileError, UnsupportedError

__all__ = ["input_is_dir", "not_regular", "open_regular", "open_regular_fd"]

_TYPES = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a directory"),
)


def not_regular(mode: int) -> str:
    """Why a path of this ``st_mode`` (a FIFO, a device, a socket) is never opened, in words."""
    kind = next((name for test, name in _TYPES if test(mode)), "an unknown file type")
    return f"not a regular file ({kind}); loradex reads only files and folders"


def input_is_dir(path: str | os.PathLike[str]) -> bool:
    """Whether the input at ``path`` is a folder (else a file to open with :func:`open_regular`).

    Raises:
        ArtifactNotFoundError: nothing at ``path`` (a dangling symlink, a file on the way).
        UnreadableFileError: the OS refuses to look (a folder on the way it may not search, a
            symlink loop).
    """
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        raise ArtifactNotFoundError("no such file or directory", path=path) from None
    except OSError as exc:
        raise UnreadableFileError(f"cannot open: {exc.strerror or exc}", path=path) from None


def open_regular_fd(path: str | os.PathLike[str]) -> int:
    """A read-only descriptor of the regular file at ``path`` (symlinks followed).

    Raises:
        ArtifactNotFoundError: nothing at ``path``.
        UnsupportedError: ``path`` is a directory.
        UnreadableFileError: not a regular file (a FIFO, a device, a socket), or the OS refuses
            to open it (permissions, a symlink loop, an I/O error).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ArtifactNotFoundError("no such file", path=path) from None
    except IsADirectoryError:  # Windows; POSIX opens folders and fstat says so below
        raise UnsupportedError("is a directory, not a weights file", path=path) from None
    except OSError as exc:
        raise UnreadableFileError(f"cannot open: {exc.strerror or exc}", path=path) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise UnsupportedError("is a directory, not a weights file", path=path)
        if not stat.S_ISREG(mode):
            raise UnreadableFileError(not_regular(mode), path=path)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


@overload
def open_regular(path: str | os.PathLike[str], buffering: Literal[0]) -> io.FileIO: ...
@overload
def open_regular(path: str | os.PathLike[str], buffering: int = -1) -> BinaryIO: ...
def open_regular(path: str | os.PathLike[str], buffering: int = -1) -> BinaryIO:
    """:func:`open_regular_fd` as a binary file object (``open(path, "rb", buffering)``)."""
    return os.fdopen(open_regular_fd(path), "rb", buffering=buffering)
