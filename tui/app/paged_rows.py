"""The table's rows as a sequence over the catalog: the ids a filter selects, in order, and the
rows of those ids read a page at a time when the table draws them.

A keystroke on 100,000 artifacts then costs one id query and the ~40 rows on screen, and the
memory held is the ids and a few pages, whatever the catalog's size.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import overload

from loradex.registry.queries.table import BrowseRow

#: Rows read at a time: a screenful or three, so that scrolling reads once per page.
PAGE = 128
#: Pages kept (the least recently drawn goes first): bounded memory, and paging back and forth
#: around the cursor reads nothing again.
KEPT_PAGES = 8


class PagedRows(Sequence[BrowseRow]):
    """``ids`` (in the table's order) as rows; ``read`` gives the rows of some ids in their order,
    leaving out those no longer in the catalog. Such ids (another process removed them) drop out
    when their page is read, and ``on_shrink`` is called so that the table fits its new length."""

    def __init__(self, ids: list[int], read: Callable[[Sequence[int]], list[BrowseRow]]) -> None:
        self.ids = ids
        self._read = read
        self.on_shrink: Callable[[], None] | None = None
        self._pages: OrderedDict[int, list[BrowseRow]] = OrderedDict()

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> BrowseRow: ...
    @overload
    def __getitem__(self, index: slice) -> list[BrowseRow]: ...
    def __getitem__(self, index: int | slice) -> BrowseRow | list[BrowseRow]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        page = self._page(index // PAGE)
        if index % PAGE >= len(page):  # ids dropped out and this index is past the new end
            raise IndexError(index)
        return page[index % PAGE]

    def __iter__(self) -> Iterator[BrowseRow]:
        for number in range((len(self) + PAGE - 1) // PAGE):
            yield from self._page(number)

    def index_of(self, artifact_id: int) -> int | None:
        """Where the artifact with this id is, or None when the filter does not select it."""
        try:
            return self.ids.index(artifact_id)
        except ValueError:
            return None

    def _page(self, number: int) -> list[BrowseRow]:
        page = self._pages.get(number)
        if page is not None:
            self._pages.move_to_end(number)
            return page
        wanted = self.ids[number * PAGE : (number + 1) * PAGE]
        page = self._read(wanted)
        if len(page) < len(wanted):
            self._drop({row.id for row in page}, wanted)
            return self._page(number)
        self._pages[number] = page
        if len(self._pages) > KEPT_PAGES:
            self._pages.popitem(last=False)
        return page

    def _drop(self, found: set[int], wanted: list[int]) -> None:
        """Forget the ids of ``wanted`` that were not ``found``; the pages after them move."""
        gone = set(wanted) - found
        self.ids = [i for i in self.ids if i not in gone]
        self._pages.clear()
        if self.on_shrink is not None:
            self.on_shrink()
