"""Facets: how many artifacts of each kind and base, and a click to keep only those."""

from __future__ import annotations

from collections import Counter

from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

ALL = "*"


class Facet(OptionList):
    """One facet (``kind`` or ``base``): "all" and each value with its count."""

    DEFAULT_CSS = """
    Facet { height: auto; max-height: 12; border: round $primary-background; }
    """

    class Chosen(Message):
        def __init__(self, facet: str, value: str | None) -> None:
            super().__init__()
            self.facet = facet
            self.value = value

    def __init__(self, facet: str, counts: Counter, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.facet = facet
        self.border_title = facet
        self.show_counts(counts)

    def show_counts(self, counts: Counter) -> None:
        self.clear_options()
        self.add_option(Option(f"all ({sum(counts.values())})", id=ALL))
        for value, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            self.add_option(Option(f"{value} ({n})", id=value))
        self.highlighted = 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        value = event.option.id
        self.post_message(self.Chosen(self.facet, None if value == ALL else value))
