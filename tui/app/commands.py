"""The command palette (``ctrl+p``): every action of the app by name."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

#: (name, help, action string run on the screen or app)
ACTIONS: list[tuple[str, str, str]] = [
    ("Filter the table", "focus the filter (/)", "screen.focus_filter"),
    ("Sort by the next column", "name, size, rank, kind, base, newest (s)", "screen.cycle_sort"),
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
