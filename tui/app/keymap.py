"""The table of the app's actions, one row each: its key, its word in the footer, its entry in the
command palette, where its key is bound, whether it acts on the selected artifact, and its flow.

The screens' and the app's ``BINDINGS`` (:func:`bindings`), the command palette (:mod:`.commands`)
and the keys paragraph of ``loradex tui --help`` (:func:`keys_help`) are all read from
:data:`ACTIONS`, so an action is added in one place. Plain data: Textual is imported only by
:func:`bindings`, so the CLI reads the help without loading the app.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.binding import BindingType

#: Where a key is bound: the main screen, the detail screen, the app (so on every screen).
MAIN, DETAIL, APP = "main", "detail", "app"


@dataclass(frozen=True)
class Action:
    """One action of the app.

    Attributes:
        name: what the table and the app call it.
        key: the Textual key that runs it.
        description: its word in the footer.
        key_display: how the footer and the help write ``key`` (None: as it is).
        action: the Textual action a binding or the palette runs, for the actions Textual or a
            screen implements; a flow's is :attr:`run`.
        flow: ``module.function`` of its worker coroutine in :mod:`loradex.tui.app.flows`.
        title: its name in the command palette (None: not there).
        help: the palette's line under the title.
        bound: where its key is bound (:data:`MAIN`, :data:`DETAIL`, :data:`APP`); none where a
            widget or Textual binds it.
        hidden: the places in ``bound`` where the footer does not show it.
        needs_artifact: it acts on the current artifact (the table's highlighted row, or the
            artifact a detail screen shows), which the app looks up before the flow starts.
        said: its words in ``loradex tui --help`` (None: not said there).
        priority: the app runs it as the key arrives, before the keys after it reach any widget
            (a Textual priority binding); a key typed faster than it is handled otherwise goes
            to the widget that had the focus before it.
    """

    name: str
    key: str
    description: str
    key_display: str | None = None
    action: str = ""
    flow: str | None = None
    title: str | None = None
    help: str = ""
    bound: tuple[str, ...] = (APP,)
    hidden: tuple[str, ...] = ()
    needs_artifact: bool = False
    said: str | None = None
    priority: bool = False

    @property
    def run(self) -> str:
        """The Textual action string that runs it."""
        return f"app.flow({self.name!r})" if self.flow else self.action

    @property
    def shown_key(self) -> str:
        return self.key_display or self.key

    def flow_function(self) -> Callable[..., Any]:
        """The flow (imported on first use: the flows import the dialogs)."""
        if self.flow is None:
            raise LookupError(f"the action {self.name!r} has no flow")
        module, function = self.flow.rsplit(".", 1)
        return getattr(importlib.import_module(f"loradex.tui.app.flows.{module}"), function)


# The order is the footer's on each screen and the palette's.
ACTIONS: tuple[Action, ...] = (
    Action(
        "filter",
        "slash",
        "filter",
        key_display="/",
        action="screen.focus_filter",
        title="Filter the table",
        help="focus the filter",
        bound=(MAIN,),
        said="filter",
        priority=True,  # `/portrait` typed or pasted at once: `portrait` goes to the filter, `p` is not publish
    ),
    Action("leave_filter", "escape", "table", action="screen.leave_filter", bound=(MAIN,), hidden=(MAIN,)),
    Action(
        "open",
        "enter",
        "open",
        action="screen.open_selected",
        title="Open the selected artifact",
        help="its detail: metadata, hashes, blocks, fit, lineage, previews",
        bound=(),  # the table's own key
        said="open",
    ),
    Action(
        "sort",
        "s",
        "sort",
        action="screen.cycle_sort",
        title="Sort by the next column",
        help="name, size, rank, kind, base, newest",
        bound=(MAIN,),
        said="sort",
    ),
    Action("back", "escape", "back", action="app.pop_screen", bound=(DETAIL,), said="back"),
    Action("copy_sha256", "c", "copy sha256", action="screen.copy_sha256", bound=(DETAIL,)),
    Action(
        "rescan",
        "r",
        "rescan",
        flow="catalog.rescan",
        title="Rescan the scan roots",
        help="index new and changed files under the catalog's folders",
        said="rescan the catalog's folders",
    ),
    Action(
        "quick_test",
        "t",
        "try",
        flow="workbench.quick_test",
        title="Quick-test the artifact",
        help="render a seed × scale grid on a checkpoint, show the contact sheet",
        needs_artifact=True,
        said="quick-test",
    ),
    Action(
        "tray_add",
        "a",
        "add to tray",
        flow="workbench.tray_add",
        title="Add to the mix tray",
        help="the highlighted LoRA, at a weight",
        needs_artifact=True,
        said="add to the mix tray",
    ),
    Action(
        "mix_tray",
        "m",
        "mix tray",
        flow="workbench.mix_tray",
        title="Open the mix tray",
        help="remove items; mix them into a LoRA or bake them into a checkpoint",
        said="open the mix tray (mix or bake)",
    ),
    Action(
        "edit",
        "e",
        "edit",
        flow="catalog.edit",
        title="Edit tags, note and weight",
        help="the artifact's own data",
        needs_artifact=True,
        said="edit tags/note/weight",
    ),
    Action(
        "publish",
        "p",
        "publish",
        flow="hub.publish",
        title="Publish to the Hub",
        help="the card first (a dry run), then the commit",
        needs_artifact=True,
        said="publish",
    ),
    Action(
        "civitai",
        "l",
        "civitai",
        flow="civitai.look_up",
        title="Look up on Civitai",
        help="ask Civitai what the file is by its hash; record model, version, words, example images",
        needs_artifact=True,
        said="look up on Civitai",
    ),
    Action(
        "forget",
        "delete",
        "forget",
        key_display="del",
        flow="catalog.forget",
        title="Forget the artifact",
        help="remove it from the catalog; its file only if you confirm again",
        needs_artifact=True,
        said="forget",
    ),
    Action(
        "quit", "q", "quit", action="app.quit", title="Quit", help="leave loradex", bound=(MAIN, DETAIL), said="quit"
    ),
    Action(
        "show_keys",
        "question_mark",
        "keys",
        key_display="?",
        action="app.show_keys",
        title="Show key bindings",
        help="the keys of what has focus",
        # on the app too, for the screens that bind nothing (the contact sheet); its footer shows the screen's
        bound=(MAIN, DETAIL, APP),
        hidden=(APP,),
        said="keys",
    ),
    Action("palette", "ctrl+p", "palette", action="app.command_palette", bound=(), said="every action"),
)

BY_NAME: dict[str, Action] = {action.name: action for action in ACTIONS}


def bindings(place: str) -> list[BindingType]:
    """The Textual bindings of ``place`` (:data:`MAIN`, :data:`DETAIL` or :data:`APP`), in table order."""
    from textual.binding import Binding

    return [
        Binding(a.key, a.run, a.description, show=place not in a.hidden, key_display=a.key_display, priority=a.priority)
        for a in ACTIONS
        if place in a.bound
    ]


def palette() -> list[tuple[str, str, str]]:
    """The command palette's entries: (title, help with the key, action string), in table order."""
    return [(a.title, f"{a.help} ({a.shown_key})", a.run) for a in ACTIONS if a.title is not None]


def keys_help() -> str:
    """The keys as ``loradex tui --help`` lists them: the app's, then those on an artifact."""
    general = [f"{a.shown_key} {a.said}" for a in ACTIONS if a.said and not a.needs_artifact]
    on_artifact = [f"{a.shown_key} {a.said}" for a in ACTIONS if a.said and a.needs_artifact]
    return f"Keys: {', '.join(general)}; on an artifact: {', '.join(on_artifact)}."
