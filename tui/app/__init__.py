"""The Textual app of loradex: ``loradex tui`` (or ``loradex`` alone on a terminal).

The app wires (``application``): its actions are one table (``keymap``), from which its key
bindings, the command palette (``commands``) and ``loradex tui --help`` derive; each action is one
worker coroutine (``flows/``) that awaits its dialogs (``screens/``) and its job (``jobs``: the
app's job runner); what they pass is in ``messages``. Widgets live in ``widgets/``, styles in
``.tcss`` files beside them. The app holds no logic a script would need — it asks
``loradex.registry`` (``catalog_view`` for the questions) and ``loradex.adapters``. Nothing here
imports torch until an action needs it, and nothing imports Textual until the app is asked for
(names load on first use, PEP 562), so the CLI reads ``keymap`` for its help without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loradex.adapters.lazy import lazy_exports

if TYPE_CHECKING:
    from .application import LoradexApp, make_app

__all__ = ["LoradexApp", "make_app"]

__getattr__ = lazy_exports(__name__, {"LoradexApp": ".application", "make_app": ".application"})
