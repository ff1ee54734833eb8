"""``python -m loradex.tui.cli``: the same as the ``loradex`` command."""

from . import main

main()
