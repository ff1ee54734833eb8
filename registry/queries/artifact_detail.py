"""Questions about one artifact beyond its row, in SQL any :class:`.reading.Reader` runs: its
layers per component, algorithm and rank, its previews and publications, its lineage (the
recipes that made it and those that used it), the checkpoint it was trained on and the tensor
hashes its header claims wrongly, gathered in
:class:`.views.Details`."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from loradex.adapters.io.embedded_hashes import hash_mismatches

from .lookup import by_id, tags_of
from .reading import Reader, as_reader, in_list
from .rows import (
    ArtifactRow,
    CivitaiRow,
    PreviewRow,
    PublicationRow,
    RecipeInputRow,
    RecipeRow,
    artifact_rows,
    build,
    column_list,
)
from .views import Details, LayerSummary, Lineage, LineageInput, MadeBy, TrainedOn, UsedIn

if TYPE_CHECKING:
    from .lookup import Source

__all__ = ["details", "layer_summary", "lineage", "trained_on"]


def _by_sha256(reader: Reader, hashes: set[str]) -> dict[str, ArtifactRow]:
    found: dict[str, ArtifactRow] = {}
    if hashes:
        params: dict[str, Any] = {}
        # An ok copy beats a missing one; among equals the oldest row wins.
        for row in artifact_rows(
            reader,
            f"a.sha256 IN {in_list('sha', sorted(hashes), params)}",
            params,
            order="CASE WHEN a.status = 'ok' THEN 0 ELSE 1 END, a.id",
        ):
            found.setdefault(row.sha256 or "", row)
    return found


def lineage(source: Source, artifact: Any) -> Lineage:
    """Where an artifact came from and what was made from it.

    A recipe made the artifact when it is recorded for its row or for its sha256; it used the
    artifact when one of its inputs has the artifact's sha256.

    Returns:
        The :class:`.views.Lineage`; inputs and outputs are matched to catalogued artifacts by
        sha256 (an ok copy first, then the oldest row).
    """
    reader = as_reader(source)
    recipe_columns, input_columns = column_list(RecipeRow, "r"), column_list(RecipeInputRow, "i")
    params: dict[str, Any] = {"id": artifact.id, "sha": artifact.sha256}
    made_by_clause = "r.artifact_id = :id" + (" OR r.output_sha256 = :sha" if artifact.sha256 else "")
    recipes = [
        build(RecipeRow, values, reader.folder)
        for values in reader.rows(
            f"SELECT {recipe_columns} FROM recipe r WHERE {made_by_clause} ORDER BY r.created_at, r.id", params
        )
    ]
    ids: dict[str, Any] = {}
    inputs = [
        build(RecipeInputRow, values, reader.folder)
        for values in reader.rows(
            f"SELECT {input_columns} FROM recipe_input i "
            f"WHERE i.recipe_id IN {in_list('r', [r.id for r in recipes], ids)} "
            "ORDER BY i.recipe_id, i.position",
            ids,
        )
    ]
    width = len(RecipeInputRow.__dataclass_fields__)
    uses = (
        [
            (build(RecipeInputRow, values[:width], reader.folder), build(RecipeRow, values[width:], reader.folder))
            for values in reader.rows(
                f"SELECT {input_columns}, {recipe_columns} FROM recipe_input i "
                "JOIN recipe r ON r.id = i.recipe_id WHERE i.sha256 = :sha ORDER BY r.id",
                params,
            )
        ]
        if artifact.sha256
        else []
    )
    known = _by_sha256(
        reader,
        {i.sha256 for i in inputs if i.sha256}
        | {r.output_sha256 for _, r in uses if r.output_sha256 and not r.artifact_id},
    )
    made_by = [
        MadeBy(
            r.id,
            r.op,
            r.params,
            r.loradex_version,
            r.created_at,
            [
                LineageInput(i.position, i.role, i.weight, i.sha256, i.ref, known.get(i.sha256 or ""))
                for i in inputs
                if i.recipe_id == r.id
            ],
        )
        for r in recipes
    ]
    used_in = [
        UsedIn(
            r.id,
            r.op,
            i.role,
            i.weight,
            by_id(reader, r.artifact_id) if r.artifact_id else known.get(r.output_sha256 or ""),
        )
        for i, r in uses
    ]
    return Lineage(made_by, used_in)


def layer_summary(source: Source, artifact: Any, *, first: int = 10) -> LayerSummary:
    """Counts of the artifact's layers per component, algorithm and rank, and its first
    ``first`` stems with their canonical layers. Checkpoints (no module rows) are summarised
    from their layer inventory (by component only)."""
    reader = as_reader(source)
    params = {"id": artifact.id, "set": artifact.layer_set_id, "first": first}
    modules = list(
        reader.rows(
            'SELECT component, algorithm, "rank", COUNT(*) FROM module WHERE artifact_id = :id '
            'GROUP BY component, algorithm, "rank"',
            params,
        )
    )
    if modules:
        by_component: Counter[str] = Counter()
        by_algorithm: Counter[str] = Counter()
        by_rank: Counter[str] = Counter()
        for component, algorithm, rank, n in modules:
            by_component[component or "unmatched"] += n
            by_algorithm[algorithm] += n
            by_rank[str(rank) if rank else "-"] += n
        stems = reader.rows(
            "SELECT stem, canonical FROM module WHERE artifact_id = :id ORDER BY id LIMIT :first", params
        )
        return LayerSummary(
            sum(n for *_, n in modules),
            _sorted(by_component),
            _sorted(by_algorithm),
            _sorted(by_rank),
            [(stem, canonical) for stem, canonical in stems],
        )
    if artifact.layer_set_id is not None:
        names = [
            name
            for (name,) in reader.rows(
                "SELECT canonical FROM layer_set_layer WHERE layer_set_id = :set ORDER BY canonical", params
            )
        ]
        return LayerSummary(
            len(names),
            _sorted(Counter(name.split(".", 1)[0] for name in names)),
            first=[(name, name) for name in names[:first]],
        )
    return LayerSummary()


def trained_on(source: Source, artifact: Any) -> TrainedOn | None:
    """The catalogued checkpoint whose sha256 the artifact records as its training base (an ok
    copy first, then the oldest row), or None."""
    if not artifact.trained_on_sha256:
        return None
    found = artifact_rows(
        as_reader(source),
        "a.sha256 = :sha AND a.kind = 'checkpoint'",
        {"sha": artifact.trained_on_sha256},
        order="CASE WHEN a.status = 'ok' THEN 0 ELSE 1 END, a.id",
        limit=1,
    )
    return TrainedOn(found[0].id or 0, found[0].name, found[0].path, found[0].line) if found else None


def _sorted(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items()))


def details(source: Source, artifact: Any) -> Details:
    """Everything the catalog knows beyond the artifact row (:class:`.views.Details`)."""
    reader = as_reader(source)
    params = {"id": artifact.id}
    return Details(
        tags=tags_of(reader, artifact),
        layers=layer_summary(reader, artifact),
        previews=[
            build(PreviewRow, values, reader.folder)
            for values in reader.rows(
                f"SELECT {column_list(PreviewRow, 'p')} FROM preview p WHERE p.artifact_id = :id ORDER BY p.id", params
            )
        ],
        publications=[
            build(PublicationRow, values, reader.folder)
            for values in reader.rows(
                f"SELECT {column_list(PublicationRow, 'p')} FROM publication p WHERE p.artifact_id = :id ORDER BY p.id",
                params,
            )
        ],
        lineage=lineage(reader, artifact),
        trained_on=trained_on(reader, artifact),
        # The row keeps every ss_* and modelspec.* entry: checked as the scan did, no file read.
        hash_mismatches=hash_mismatches(
            artifact.training_metadata or {}, None if artifact.is_dir else artifact.tensor_hash
        ),
        civitai=next(
            (
                build(CivitaiRow, values, reader.folder)
                for values in reader.rows(
                    f"SELECT {column_list(CivitaiRow, 'c')} FROM civitai_record c WHERE c.artifact_id = :id", params
                )
            ),
            None,
        ),
    )
