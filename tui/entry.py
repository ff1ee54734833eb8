"""The ``loradex`` console script: a Ctrl-C while the CLI's modules are still importing exits
with one line, not a traceback (the commands themselves handle it once they run).

The cyclic garbage collector is off while the CLI's modules import, and what they made is frozen
after (:func:`gc.freeze`): modules, classes and functions live as long as the process, and a
catalog command is short. Left to it, the collector walked those objects over again while the
modules imported, and once more at exit to free them before the process ended anyway: ≈ 6 % of
``loradex list``'s instructions and 11 % of ``--help``'s. What a command makes is still collected.
"""

from __future__ import annotations

import gc
import sys

from loradex.adapters.interrupts import EXIT_CODE  # cheap: signal, threading and the error classes


def main() -> None:
    gc.disable()
    try:
        from loradex.tui.cli import main as run
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(EXIT_CODE)
    finally:
        gc.freeze()
        gc.enable()
    run()
