"""The command palette (``ctrl+p``): every action of the app by name, read from :mod:`.keymap`."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .keymap import palette


class ActionCommands(Provider):
    """Offers the actions of :data:`.keymap.ACTIONS` that have a palette title."""

    async def discover(self) -> Hits:
        for name, help_text, action in palette():
            yield DiscoveryHit(name, partial(self.app.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, action in palette():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(self.app.run_action, action), help=help_text)
