"""The ``loradex`` command line: thin commands over the Python API.

Exit codes: 0 ok, 1 a :class:`LoradexError` (one line on stderr), 2 usage. Set
``LORADEX_DEBUG=1`` to see tracebacks of unexpected errors. Every command takes ``--json``.

The catalog is ``--catalog PATH|URL`` (before the command: ``loradex --catalog x.db list``),
else ``$LORADEX_CATALOG``, else ``catalog.db`` in the user data folder.

The operations (mix, resize, bake, extract, rebuild) use a catalog only when one is *in use*
(:func:`loradex.registry.store.db.catalog_in_use`): ``--catalog`` or ``$LORADEX_CATALOG`` is given,
or the default catalog file already exists. Then inputs may be catalog references and the
output is recorded with its recipe; otherwise inputs must be paths and no catalog file is created.

One root (:mod:`.app`: the app, the table of failures applied to every command, ``main``); each
command group is a module with its own Typer app (``group``), added to the root's
:data:`.app.GROUPS` below, flat (``loradex probe``, not ``loradex files probe``): :mod:`.files`,
:mod:`.library` (the catalog's commands), :mod:`.operations`, :mod:`.generate`, :mod:`.hub`,
:mod:`.civitai`, :mod:`.sidecars`, :mod:`.terminal` (the Textual app). The root builds a command
only when it runs. The groups share :mod:`.options` and never import the root. A new group is a
new module added below. Modules import what needs torch inside the commands that use it, and the
output (Rich) through :func:`.options.sink_for`, so that ``loradex --help`` and the catalog
commands start without them.
"""

from . import civitai, files, generate, hub, library, operations, sidecars, terminal
from .app import GROUPS, app, main

GROUPS.extend(
    _group.group
    for _group in (
        files,
        library,
        operations,
        generate,
        hub,
        civitai,
        sidecars,
        terminal,
    )  # --help lists them in this order
)

__all__ = ["app", "main"]
