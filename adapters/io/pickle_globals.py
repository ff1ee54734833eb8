"""What a pickle stream imports, read opcode by opcode without unpickling anything.

A torch zip checkpoint is loaded from its ``data.pkl`` alone (torch's weights-only unpickler
vets that one), but the zip may hold other pickle members that torch never reads and another
tool might: a ``.ckpt`` carrying ``os.system`` in an unreferenced member is what scanners such
as picklescan and modelscan flag. This module lists the globals (``module.name``) every pickle
member imports, as those scanners do, so such a file is refused and the user told why.
"""

from __future__ import annotations

import pickletools
import re
import zipfile
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import IO

__all__ = ["stream_globals", "unsafe_globals", "unvetted_member_globals"]

#: Globals torch's weights-only unpickler itself accepts in a checkpoint: containers, tensor
#: rebuilders, storages, dtypes, layouts. Anything else in a pickle member is reported.
_SAFE = re.compile(
    r"collections\.OrderedDict|builtins\.(set|frozenset|bytearray|slice|complex)|_codecs\.encode"
    r"|torch\._utils\._rebuild_\w+|torch\._tensor\._rebuild_from_type_v2|torch\.serialization\._get_layout"
    r"|torch\.nn\.parameter\.Parameter|torch\.(Size|device|strided|sparse_\w+|_mkldnn)"
    r"|torch\.\w*Storage|torch\.(u?int\d*|float\d*(_\w+)?|half|double|bfloat16|bool|long|short"
    r"|complex\d*|cfloat|cdouble|chalf|bits\w+|qu?int\w+)"
)
_STRINGS = frozenset(
    {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING", "SHORT_BINSTRING"}
)


def unvetted_member_globals(archive: zipfile.ZipFile) -> dict[str, list[str]]:
    """Every pickle member (``*.pkl``) of a torch zip that ``torch.load`` does not unpickle, and
    so never vets, → the globals it imports, in order. (The one it loads, ``<archive>/data.pkl``,
    goes through torch's weights-only unpickler, the authority on what it accepts.)"""
    return {
        name: list(dict.fromkeys(stream_globals(archive.open(name))))
        for name in archive.namelist()
        if name.lower().endswith(".pkl") and not _torch_loads(name)
    }


def _torch_loads(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return len(parts) == 2 and parts[1] == "data.pkl"


def unsafe_globals(globals_: list[str]) -> list[str]:
    """The globals torch's weights-only loader would refuse (what picklescan reports)."""
    return [g for g in globals_ if not _SAFE.fullmatch(g)]


def stream_globals(stream: IO[bytes]) -> Iterator[str]:
    """The globals (``module.name``) one pickle stream imports, in order, up to its STOP (or
    to where it stops parsing); ``stream`` is closed after."""
    # STACK_GLOBAL takes module and name from the stack: the last two strings pushed, directly
    # or fetched back from the memo (as picklescan reads them).
    strings: list[str | None] = []
    memo: dict[int, str | None] = {}
    top: str | None = None  # the value the last op pushed, when a string (what the memo stores)
    try:
        with stream:
            for op, arg, _ in pickletools.genops(stream):
                name = op.name
                if name in _STRINGS:
                    assert arg is not None  # every string opcode carries its string
                    top = arg if isinstance(arg, str) else arg.decode("latin-1")
                    strings.append(top)
                elif name in ("GET", "BINGET", "LONG_BINGET"):
                    assert arg is not None  # the memo index
                    top = memo.get(int(arg))
                    strings.append(top)
                elif name == "MEMOIZE":
                    memo[len(memo)] = top
                elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                    assert arg is not None  # the memo index
                    memo[int(arg)] = top
                elif name in ("GLOBAL", "INST"):
                    module, _, attr = str(arg).partition(" ")
                    yield f"{module}.{attr}"
                    top = None
                elif name == "STACK_GLOBAL":
                    pushed_module, pushed_attr = strings[-2:] if len(strings) >= 2 else (None, None)
                    yield f"{pushed_module or '?'}.{pushed_attr or '?'}"
                    top = None
                elif name == "STOP":
                    return
                else:
                    top = None
    except (ValueError, EOFError, UnicodeDecodeError, zipfile.BadZipFile, OSError):
        return  # a malformed stream: nothing loads it; what it imported so far is reported
