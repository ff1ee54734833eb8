"""The Textual app of loradex: ``loradex tui`` (or ``loradex`` alone on a terminal).

Screens, dialogs and widgets live in modules named for them (``screens/``, ``widgets/``), their
styles in ``.tcss`` files beside them; the app holds no logic a script would need — it asks
``loradex.registry`` and ``loradex.adapters``. Nothing here imports torch until an action needs it.
"""

from .application import LoradexApp, make_app

__all__ = ["LoradexApp", "make_app"]
