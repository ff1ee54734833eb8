"""Benchmark: catalog queries on 10,000 artifacts (SQLite).

The catalog is built by bulk inserts: a realistic mix of kinds and bases, ~40 distinct layer
sets of 50–1000 layers drawn from the real SD1.5/SDXL layer maps (real shapes), ~100 module
rows per adapter (about 700,000 rows), tags and search text. Then the median time of a
combined ``find`` and of ``fits`` is printed.

Run: ``.venv/bin/pytest -m benchmark -s benchmarks/test_bench_catalog.py``.
"""

from __future__ import annotations

import hashlib
import json
import random
import statistics
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, text
from sqlmodel import select

from loradex.adapters.model.layermap import layer_map
from loradex.registry.queries import compat, orm
from loradex.registry.queries.filters import Filter
from loradex.registry.store.db import open_catalog
from loradex.registry.store.db import session as open_session
from loradex.registry.store.models import Artifact, ArtifactTag, LayerSet, LayerSetLayer, Module, Tag

pytestmark = pytest.mark.benchmark

N_ARTIFACTS = 10_000
MODULES_PER_ADAPTER = 100
RUNS = 9
INSERT_ROWS = 10_000
# (kind, format, weight in the mix)
KINDS = [
    ("lora", "kohya", 55),
    ("lora", "diffusers", 8),
    ("lora", "peft", 2),
    ("lycoris", "lycoris", 15),
    ("textual_inversion", "a1111_embedding", 10),
    ("checkpoint", "ldm_single_file", 5),
    ("controlnet", "diffusers_folder", 2),
    ("hypernetwork", "a1111_hypernetwork", 1),
    ("unknown", "unknown", 2),
]
BASES = [("sd1", 50), ("sdxl", 40), ("sd2", 5), ("unknown", 5)]
WORDS = (
    "portrait woman man girl anime realistic photo cat dog landscape style detail sliders lighting cyberpunk "
    "fantasy armor dress hair eyes smile city night forest painting watercolor sketch pixel retro film"
).split()
TAGS = [f"tag{i}" for i in range(20)] + ["style", "character", "concept", "pose", "clothing", "favourite"]


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def _layer_sets(rng: random.Random) -> dict[str, list[list[tuple[str, str, str, str]]]]:
    """Per base: the full inventory first, then adapter sets of 50–1000 layers
    (canonical, shape, kohya stem, component)."""
    sets = {}
    for base, count in (("sd1", 19), ("sdxl", 19)):
        layers = [
            (spec.name, _shape(spec.shape), spec.kohya, spec.component) for spec in layer_map(base).layers.values()
        ]
        attention = [row for row in layers if ".attn" in row[0] or "self_attn" in row[0]]
        chosen = [layers, attention, [row for row in attention if ".attn1." in row[0]]]
        while len(chosen) < count + 1:
            size = rng.randint(50, min(1000, len(layers)))
            chosen.append(sorted(rng.sample(layers, size)))
        sets[base] = chosen
    return sets


def _training_metadata(rng: random.Random, name: str, base: str, rank: int, words: list[str]) -> dict[str, str]:
    """What kohya's trainer writes (about 30 entries, 1–2 KB), as a scan stores it."""
    tags = {w: rng.randint(1, 200) for w in rng.sample(WORDS, 12)}
    meta = {
        f"ss_{k}": f"{rng.random():.6g}"
        for k in (
            "learning_rate",
            "unet_lr",
            "text_encoder_lr",
            "seed",
            "epoch",
            "steps",
            "num_train_images",
            "num_epochs",
            "max_grad_norm",
            "noise_offset",
            "min_snr_gamma",
            "training_started_at",
            "training_finished_at",
            "session_id",
        )
    }
    meta.update(
        ss_output_name=name,
        ss_network_module="networks.lora",
        ss_network_dim=str(rank),
        ss_network_alpha=str(rank / 2),
        ss_base_model_version=base,
        ss_optimizer="bitsandbytes.optim.AdamW8bit",
        ss_lr_scheduler="cosine_with_restarts",
        ss_mixed_precision="bf16",
        ss_resolution="(1024, 1024)",
        ss_sd_model_name=f"{base}_base.safetensors",
        ss_clip_skip="2",
        ss_caption_dropout_rate="0.0",
        ss_tag_frequency=json.dumps({f"10_{words[0]}": tags}),
        ss_dataset_dirs=json.dumps({f"10_{words[0]}": {"n_repeats": 10, "img_count": 40}}),
        **{
            "modelspec.architecture": f"{base}/lora",
            "modelspec.title": name,
            "modelspec.trigger_phrase": " ".join(words[2:]),
        },
    )
    return meta


def _build(url: str, rng: random.Random, n: int = N_ARTIFACTS, with_modules: int | None = None) -> dict[str, int]:
    """The catalog of ``n`` artifacts (module rows for the first ``with_modules`` adapters; all by
    default), inserted ``INSERT_ROWS`` artifacts at a time."""
    engine = open_catalog(url)
    now = datetime.now(UTC)
    sets = _layer_sets(rng)
    set_ids: dict[str, list[int]] = {}
    with engine.begin() as conn:
        for base, chosen in sets.items():
            set_ids[base] = []
            for layers in chosen:
                digest = hashlib.sha256(repr(layers).encode()).hexdigest()
                ls_id = conn.execute(insert(LayerSet).values(digest=digest, size=len(layers))).inserted_primary_key[0]
                conn.execute(
                    insert(LayerSetLayer),
                    [{"layer_set_id": ls_id, "canonical": c, "shape": s} for c, s, _, _ in layers],
                )
                set_ids[base].append(ls_id)
        tag_ids = [conn.execute(insert(Tag).values(name=t)).inserted_primary_key[0] for t in TAGS]

        artifacts, modules, links = [], [], []
        totals = {"artifacts": 0, "modules": 0, "tags": 0}
        kinds = rng.choices(KINDS, weights=[k[2] for k in KINDS], k=n)
        bases = rng.choices([b for b, _ in BASES], weights=[w for _, w in BASES], k=n)
        for i, ((kind, fmt, _), base) in enumerate(zip(kinds, bases, strict=True), start=1):
            family = base if base in sets else None
            layer_set, layers = None, []
            if kind == "checkpoint" and family:
                layer_set, layers = set_ids[family][0], []
            elif kind in ("lora", "lycoris") and family:
                index = rng.randrange(1, len(sets[family]))
                layer_set, layers = set_ids[family][index], sets[family][index]
            rank = rng.choice([2, 4, 8, 16, 32, 64, 128]) if kind in ("lora", "lycoris") else None
            words = rng.sample(WORDS, 4)
            name = f"{words[0]}-{words[1]}-{i}"
            metadata = _training_metadata(rng, name, base, rank, words) if kind in ("lora", "lycoris") else {}
            meta = " ".join(str(v) for k, v in sorted(metadata.items()) if k != "ss_tag_frequency")
            artifacts.append(
                dict(
                    id=i,
                    path=f"/library/{base}/{kind}/{name}.safetensors",
                    name=name,
                    kind=kind,
                    format=fmt,
                    base=base,
                    is_dir=False,
                    size=rng.randint(10**4, 7 * 10**9),
                    mtime=0.0,
                    sha256=hashlib.sha256(name.encode()).hexdigest(),
                    safety="safetensors",
                    status="ok",
                    rank_min=rank,
                    rank_max=rank,
                    layer_count=len(layers),
                    parameters=0,
                    unmatched=0,
                    layer_set_id=layer_set,
                    trigger_words=words[2:],
                    notes="",
                    source="local",
                    created_at=now,
                    scanned_at=now,
                    hashed_at=now,
                    ranks=[rank] if rank else [],
                    algorithms=["lora"] if rank else [],
                    components=["text_encoder", "unet"] if rank else [],
                    training_metadata=metadata,
                    sidecar={},
                    base_evidence=[
                        f"cross-attention input width {2048 if base == 'sdxl' else 768} (12 layers, e.g. "
                        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k)"
                    ],
                    base_claims={"ss_base_model_version": base} if metadata else {},
                    search_text=f"{name} {' '.join(words[2:])} {meta}".lower(),
                )
            )
            artifacts[-1]["autov2"] = artifacts[-1]["sha256"][:10]
            for canonical, shape, stem, component in (
                layers[:MODULES_PER_ADAPTER] if with_modules is None or i <= with_modules else ()
            ):
                modules.append(
                    dict(
                        artifact_id=i,
                        stem=stem,
                        canonical=canonical,
                        component=component,
                        algorithm="lora",
                        rank=rank,
                        alpha=float(rank),
                        shape=shape,
                    )
                )
            links += [{"artifact_id": i, "tag_id": t} for t in rng.sample(tag_ids, rng.randint(0, 3))]
            if len(artifacts) == INSERT_ROWS or i == n:  # in parts: 100,000 rows of metadata at once are gigabytes
                for table, rows, key in (
                    (Artifact, artifacts, "artifacts"),
                    (Module, modules, "modules"),
                    (ArtifactTag, links, "tags"),
                ):
                    if rows:
                        conn.execute(insert(table), rows)
                    totals[key] += len(rows)
                    rows.clear()
        conn.execute(text("ANALYZE"))  # what `loradex` would get from SQLite's optimize over time
    engine.dispose()
    return {
        **totals,
        "layer_sets": sum(len(v) for v in set_ids.values()),
        "layers": sum(len(layer_set) for per_base in sets.values() for layer_set in per_base),
    }


def _timed(fn) -> tuple[float, float, object]:
    """(median ms, min ms, last result) over RUNS calls, after one warm-up call."""
    fn()  # warm the page cache and the statement cache
    times, result = [], None
    for _ in range(RUNS):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3, min(times) * 1e3, result


def test_catalog_queries_on_10k_artifacts(tmp_path):
    rng = random.Random(1234)
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    layer_map("sd1"), layer_map("sdxl")  # built once per machine, then read from a cache
    start = time.perf_counter()
    sizes = _build(url, rng)
    built = time.perf_counter() - start
    print(
        f"\ncatalog: {sizes['artifacts']:,} artifacts, {sizes['modules']:,} module rows, "
        f"{sizes['layer_sets']} layer sets ({sizes['layers']:,} layer rows), {sizes['tags']:,} tag links; "
        f"built in {built:.1f} s"
    )

    engine = open_catalog(url)
    with open_session(engine) as s:
        xl_base = s.exec(select(Artifact).where(Artifact.kind == "checkpoint", Artifact.base == "sdxl")).first()
    cases = {
        "find(kind='lora', base='sdxl', text='portrait', tag='style')": lambda s: orm.find(
            s, Filter(kind="lora", base="sdxl", text="portrait", tag="style")
        ),
        "fits(sdxl checkpoint)": lambda s: compat.fits(s, xl_base),
        "find(fits=sdxl, kind='lora', sort='-rank', limit=100)": lambda s: orm.find(
            s, Filter(kind="lora", sort="-rank"), fits=xl_base, limit=100
        ),
        "find(text='portrait')": lambda s: orm.find(s, Filter(text="portrait")),
        "find() of all 10,000": lambda s: orm.find(s),
        "find(details=False) of all 10,000": lambda s: orm.find(s, details=False),
    }
    results = {}
    for label, query in cases.items():
        # A fresh session per run: the identity map must not turn later runs into cache hits.
        def run(query=query):
            with open_session(engine) as s:
                return query(s)

        median, best, rows = _timed(run)
        results[label] = (median, rows)
        print(f"{label}: median {median:.1f} ms, min {best:.1f} ms ({len(rows):,} rows, {RUNS} runs)")
    engine.dispose()
    find_ms, found = results["find(kind='lora', base='sdxl', text='portrait', tag='style')"]
    fits_ms, fitting = results["fits(sdxl checkpoint)"]
    assert found and fitting and len(results["find() of all 10,000"][1]) == N_ARTIFACTS
    assert all(a.kind == "lora" and compat.base_of(a) == "sdxl" and "portrait" in a.search_text for a in found)
    assert all(f.base in ("sdxl", "unknown") and f.share == 1.0 for f in fitting)
    assert fits_ms < 100
    assert find_ms < 100
