"""The ``loradex`` command line: thin commands over the Python API.

Exit codes: 0 ok, 1 a :class:`LoradexError` (one line on stderr), 2 usage. Set
``LORADEX_DEBUG=1`` to see tracebacks of unexpected errors. Every command takes ``--json``.

The catalog is ``--catalog PATH|URL`` (before the command: ``loradex --catalog x.db list``),
else ``$LORADEX_CATALOG``, else ``catalog.db`` in the user data folder.

The operations (mix, resize, bake, extract, rebuild) use a catalog only when one is *in use*
(:func:`loradex.registry.store.db.catalog_in_use`): ``--catalog`` or ``$LORADEX_CATALOG`` is given,
or the default catalog file already exists. Then inputs may be catalog references and the
output is recorded with its recipe; otherwise inputs must be paths and no catalog file is created.

One Typer app (:mod:`.app`: the app, the shared options, the error handler, ``main``); each
command group is a module that registers its commands on it, flat (``loradex probe``, not
``loradex files probe``): :mod:`.files`, :mod:`.library` (the catalog's commands), :mod:`.operations`, :mod:`.generate`, :mod:`.hub`, :mod:`.terminal` (the Textual app). A new group is a
new module imported below. Modules import what needs torch inside the commands that use it,
so that ``loradex --help`` and the catalog commands start without it.
"""

from .app import app, main

# Importing a group registers its commands; --help lists them in this order.
from . import files, library, operations, generate, hub, terminal  # noqa: E402,F401  isort: skip

__all__ = ["app", "main"]
