"""The ``loradex`` console script: a Ctrl-C while the CLI's modules are still importing exits
130 with one line, not a traceback (the commands themselves handle it once they run)."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from loradex.tui.cli import main as run
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    run()
