"""The example catalog (catalog.db.example) set up for the TUI tests, the same on every machine.

``make example-catalog`` scans the demo zoo built beside the catalog (``./zoo``), and the
committed file stores those paths relative to itself: :func:`example_catalog` copies it into
``ROOT/catalog.db``, whose rows then name ``ROOT/zoo/…`` — as if the zoo had been built there —,
so the app, which shows paths relative to the catalog's folder, shows ``zoo/adapters/…`` wherever
the clone lives. Only what a test asks for exists on disk: the SD1 kohya LoRA (real tensors, from
the zoo fixture, for the block norms) and a few deterministic preview images; every other file is
missing, on every machine.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image, ImageDraw
from sqlmodel import select

from loradex.registry.store.db import open_catalog
from loradex.registry.store.db import session as open_session
from loradex.registry.store.models import Artifact, Preview, Publication, Recipe, RecipeInput, ScanRoot

EXAMPLE = Path(__file__).parents[2] / "catalog.db.example"
LORA = "sd1-kohya-lora"
WHEN = datetime(2026, 1, 1, tzinfo=UTC)
PROMPT = "an orange cat on a blue sofa"


def preview_image(path: Path, scale: float) -> None:
    """A flat-coloured picture (no gradients: the half-cell renderer's colours stay exact)."""
    image = Image.new("RGB", (96, 96), (40, 70, 140))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 64, 95, 95), fill=(30, 40, 90))
    r = int(12 + 20 * scale)
    draw.ellipse((48 - r, 52 - r, 48 + r, 52 + r), fill=(235, 140, 40))
    draw.rectangle((8, 8, 24, 24), fill=(240, 240, 210))
    image.save(path)


def example_catalog(root: Path, *, lora_file: Path | None = None, extras: bool = True) -> Path:
    """``root/catalog.db``: the example catalog (its paths under ``root/zoo``).

    Args:
        root: an empty folder.
        lora_file: the real ``sd1-kohya-lora.safetensors`` to place at its catalogued path.
        extras: add to the LoRA three previews (and one whose file is missing), a publication and
            a mix recipe that used it.
    """
    root.mkdir(parents=True, exist_ok=True)
    db = Path(shutil.copy(EXAMPLE, root / "catalog.db"))
    zoo = root / "zoo"
    engine = open_catalog(str(db))
    with open_session(engine) as session:
        assert set(session.exec(select(ScanRoot.path)).all()) == {str(zoo / "bases"), str(zoo / "adapters")}
        lora = session.exec(select(Artifact).where(Artifact.name == LORA)).one()
        if lora_file is not None:
            Path(lora.path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(lora_file, lora.path)
        if extras:
            previews = zoo / "previews"
            previews.mkdir(parents=True, exist_ok=True)
            for scale in (0.0, 0.5, 1.0):
                path = previews / f"{LORA}-{scale:g}.png"
                preview_image(path, scale)
                session.add(
                    Preview(
                        artifact_id=lora.id,
                        path=str(path),
                        prompt=PROMPT,
                        seed=42,
                        scale=scale,
                        base=str(zoo / "bases" / "tiny-sd1.safetensors"),
                        source="quicktest",
                        created_at=WHEN,
                    )
                )
            session.add(
                Preview(
                    artifact_id=lora.id,
                    path=str(previews / "deleted.png"),
                    prompt=PROMPT,
                    seed=7,
                    scale=1.0,
                    source="sidecar",
                    created_at=WHEN,
                )
            )
            session.add(
                Publication(
                    artifact_id=lora.id,
                    repo="example/sd1-kohya-lora",
                    commit="0123456789abcdef0123456789abcdef01234567",
                    url="https://huggingface.co/example/sd1-kohya-lora",
                    created_at=WHEN,
                )
            )
            locon = session.exec(select(Artifact).where(Artifact.name == "sd1-kohya-locon")).one()
            recipe = Recipe(
                op="mix",
                output_sha256="f" * 64,
                params={"rank": 8, "dtype": "fp16"},
                loradex_version="0.1.0",
                created_at=WHEN,
            )
            session.add(recipe)
            session.flush()
            session.add(RecipeInput(recipe_id=recipe.id, position=0, sha256=lora.sha256, ref=LORA, weight=0.6))
            session.add(RecipeInput(recipe_id=recipe.id, position=1, sha256=locon.sha256, ref=locon.name, weight=0.4))
        session.commit()
    engine.dispose()
    return db
