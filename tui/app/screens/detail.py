"""The detail of one artifact: what it is, its hashes, what Civitai said, trigger words, training
metadata, layers per block, fit with the catalog's checkpoints, lineage, publications and previews
(Civitai's example images with their prompts among them).

Everything but the block norms comes from the catalog at once; the norms need the tensors, so a
thread worker reads them (importing torch there, never at the app's start) and fills the chart.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header

from loradex.adapters.words import printable

from ..catalog_view import CatalogApp, CatalogView
from ..keymap import BY_NAME, DETAIL, bindings
from ..widgets.block_chart import BlockChart, chart_block
from ..widgets.civitai import CivitaiSection
from ..widgets.compatibility import CheckpointFits
from ..widgets.hashes import Hashes
from ..widgets.lineage import LineageView
from ..widgets.metadata import Metadata
from ..widgets.previews import Previews
from ..widgets.publications import Publications
from ..widgets.training_metadata import TrainingMetadata
from ..widgets.trigger_words import TriggerWords

if TYPE_CHECKING:
    from loradex.registry.queries.rows import ArtifactRow
    from loradex.registry.queries.views import Details

#: Kinds whose tensors ``loradex.adapters.ops.inspection.inspect`` reads.
INSPECTED = ("lora", "lycoris")


class DetailScreen(Screen):
    """Everything the catalog knows about one artifact; ``escape`` goes back, ``q`` quits."""

    CSS_PATH = "detail.tcss"
    BINDINGS = bindings(DETAIL)

    def __init__(self, artifact_id: int) -> None:
        super().__init__()
        self.artifact_id = artifact_id
        self.artifact: ArtifactRow | None = None
        self.details: Details | None = None

    @property
    def catalog(self) -> CatalogView:
        return cast(CatalogApp, self.app).catalog

    def compose(self) -> ComposeResult:
        catalog = self.catalog
        self.artifact, self.details = catalog.details(self.artifact_id)
        yield Header()
        with VerticalScroll(id="detail"):
            with Horizontal(id="columns"):
                with Vertical(id="left"):
                    yield Metadata(id="metadata")
                    yield Hashes(id="hashes")
                    yield CivitaiSection(id="civitai")
                    yield TriggerWords(id="trigger-words")
                    yield TrainingMetadata(id="training-metadata")
                with Vertical(id="right"):
                    yield Previews(self.details.previews, catalog.shown_path, id="previews")
                    yield BlockChart(id="blocks")
                    yield CheckpointFits(id="fits")
                    yield LineageView(id="lineage")
                    yield Publications(id="publications")
        yield Footer()

    def on_mount(self) -> None:
        self._fill()

    def show(self) -> None:
        """Show the artifact as the catalog has it now (after an action changed it: tags, previews …).

        Raises:
            RefNotFoundError: it was forgotten (the app then goes back to the table).
        """
        self.catalog.details(self.artifact_id)
        self.run_worker(self._redraw(), exclusive=True, group="redraw")

    async def _redraw(self) -> None:
        await self.recompose()  # compose reads the artifact again
        self._fill()

    def _fill(self) -> None:
        a, details, catalog = self.artifact, self.details, self.catalog
        assert a is not None and a.id is not None and details is not None  # compose read them from the catalog
        self.sub_title = printable(a.name, one_line=True)
        self.query_one(Metadata).show(a, details, catalog.shown_path(a.path))
        self.query_one(Hashes).show(a)
        self.query_one(CivitaiSection).show(details.civitai, BY_NAME["civitai"].shown_key, a.base or "")
        self.query_one(TriggerWords).show(a)
        self.query_one(TrainingMetadata).show(a.training_metadata or {})
        self.query_one(LineageView).show(details.lineage)
        self.query_one(Publications).show(details.publications)
        self.show_fits()
        chart = self.query_one(BlockChart)
        modules = catalog.modules(a.id)
        chart.set_layers(modules, a.base or "")
        if not modules:
            chart.display = False
        elif a.kind not in INSPECTED:
            chart.set_norms({})
            chart.set_note(f"norms: not read for {a.kind} files")
        elif not Path(a.path).exists():
            chart.set_norms({})
            chart.set_note("norms: the file is missing")
        else:
            chart.set_note("norms: reading the tensors …")
            self.load_norms(a.path, a.base or "")

    def show_fits(self) -> None:
        a, fits = self.artifact, self.query_one(CheckpointFits)
        assert a is not None and a.id is not None  # compose read it from the catalog
        if a.kind == "checkpoint":
            if a.layer_set_id is None:
                fits.show_note("no stored layer inventory; rescan it (loradex scan)")
                return
            found = self.catalog.fitting_adapters(a.id, limit=13)
            fits.show_adapters(found[:12], more=len(found) > 12)
        else:
            fits.show(self.catalog.fit_by_checkpoint(a.id), line=a.line)

    @work(thread=True, exclusive=True, group="norms")
    def load_norms(self, path: str, family: str) -> None:
        """Read the tensors (torch is imported here, in the worker) and hand the norms per block to the chart."""
        try:
            from loradex.adapters.ops.inspection import inspect

            report = inspect(path)
        except Exception as exc:  # a broken or changed file is shown, never a crash
            message = f"norms: cannot read the tensors: {exc}"
            self.app.call_from_thread(self._norms_failed, message)
            return
        squares: dict[str, float] = {}
        for layer in report.layers:
            if layer.norm is not None:
                label = chart_block(layer.canonical, layer.component, family)
                squares[label] = squares.get(label, 0.0) + layer.norm**2
        self.app.call_from_thread(self._norms_read, {k: v**0.5 for k, v in squares.items()})

    def _norms_read(self, norms: dict[str, float]) -> None:
        if self.is_attached:
            chart = self.query_one(BlockChart)
            chart.set_norms(norms)
            chart.set_note("")

    def _norms_failed(self, message: str) -> None:
        if self.is_attached:
            chart = self.query_one(BlockChart)
            chart.set_norms({})
            chart.set_note(message)

    def action_copy_sha256(self) -> None:
        if self.artifact is not None and self.artifact.sha256:
            self.app.copy_to_clipboard(self.artifact.sha256)
            self.notify("sha256 copied", timeout=2)
