"""Facets: how many artifacts of each kind, base and model line, and a click to keep only those."""

from __future__ import annotations

from collections import Counter

from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

ALL = "*"


class Facet(OptionList):
    """One facet (``kind``, ``base`` or ``line``): "all" and each value with its count."""

    DEFAULT_CSS = """
    Facet { height: auto; max-height: 12; border: round $primary-background; }
    """

    class Chosen(Message):
        def __init__(self, facet: str, value: str | None) -> None:
            super().__init__()
            self.facet = facet
            self.value = value

    def __init__(self, facet: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.facet = facet
        self.border_title = facet

    def show_counts(self, counts: Counter, chosen: str | None = None) -> None:
        """The values with their counts, most first; the ``chosen`` one stays listed (with 0 when
        the filter leaves none of it) and highlighted."""
        if chosen is not None and chosen not in counts:
            counts = Counter({**counts, chosen: 0})
        options = [Option(f"all ({sum(counts.values())})", id=ALL)] + [
            Option(f"{value} ({n})", id=value) for value, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        if [str(o.prompt) for o in options] == [str(o.prompt) for o in self.options]:
            return  # unchanged (most keystrokes): keep the highlight where the user left it
        self.clear_options()
        self.add_options(options)
        self.highlighted = next(i for i, o in enumerate(options) if o.id == (chosen or ALL))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        value = event.option.id
        self.post_message(self.Chosen(self.facet, None if value == ALL else value))
