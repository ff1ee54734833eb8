"""The ``loradex`` console script: a Ctrl-C while the CLI's modules are still importing exits
with one line, not a traceback (the commands themselves handle it once they run)."""

from __future__ import annotations

import sys

from loradex.adapters.interrupts import EXIT_CODE  # cheap: signal, threading and the error classes


def main() -> None:
    try:
        from loradex.tui.cli import main as run
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(EXIT_CODE)
    run()
