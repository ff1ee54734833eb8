"""The command palette (``ctrl+p``): every action of the app by name."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

#: (name, help, action string run on the screen or app)
ACTIONS: list[tuple[str, str, str]] = [
    ("Filter the table", "focus the filter (/)", "screen.focus_filter"),
    (
        "Open the selected artifact",
        "its detail: metadata, hashes, blocks, fit, lineage, previews (enter)",
        "screen.open_selected",
    ),
    ("Sort by the next column", "name, size, rank, kind, base, newest (s)", "screen.cycle_sort"),
    ("Rescan the scan roots", "index new and changed files under the catalog's folders (r)", "app.rescan"),
    (
        "Quick-test the artifact",
        "render a seed × scale grid on a checkpoint, show the contact sheet (t)",
        "app.quick_test",
    ),
    ("Add to the mix tray", "the highlighted LoRA, at a weight (a)", "app.tray_add"),
    ("Open the mix tray", "remove items; mix them into a LoRA or bake them into a checkpoint (m)", "app.mix_tray"),
    ("Edit tags, note and weight", "the artifact's own data (e)", "app.edit"),
    ("Publish to the Hub", "the card first (a dry run), then the commit (p)", "app.publish"),
    ("Forget the artifact", "remove it from the catalog; its file only if you confirm again (del)", "app.forget"),
    ("Show key bindings", "the keys of what has focus (?)", "app.show_keys"),
    ("Quit", "leave loradex (q)", "app.quit"),
]


class ActionCommands(Provider):
    """Offers :data:`ACTIONS`; screens add theirs through the same table."""

    async def discover(self) -> Hits:
        for name, help_text, action in ACTIONS:
            yield DiscoveryHit(name, partial(self.app.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, action in ACTIONS:
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(self.app.run_action, action), help=help_text)
