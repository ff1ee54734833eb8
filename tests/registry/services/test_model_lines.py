"""The catalog's model lines, on SQLite and PostgreSQL, from real files written as kohya writes them:
the training base found by its sha256 (whichever of the two files is scanned first), the metadata's
tokens, a Civitai sidecar, a checkpoint's own name; never a line of another family."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from sqlmodel import select

from loradex.adapters.model.probe_version import PROBE_VERSION
from loradex.adapters.zoo import Zoo
from loradex.adapters.zoo.adapter_tensors import training_base_metadata
from loradex.registry.queries import artifact_detail, lookup
from loradex.registry.services.scan import scan
from loradex.registry.store.db import session as open_session
from loradex.registry.store.models import Artifact


def place(zoo: Zoo, name: str, folder: Path, as_name: str | None = None) -> Path:
    """A private copy of a zoo item in ``folder`` (under its own file name, or ``as_name``)."""
    folder.mkdir(parents=True, exist_ok=True)
    src = zoo[name].path
    return Path(shutil.copy2(src, folder / (as_name or src.name)))


def kohya_lora(zoo: Zoo, folder: Path, name: str, **metadata: str) -> Path:
    """The zoo's SDXL kohya LoRA saved again as ``name`` with ``metadata`` over kohya's own."""
    src = zoo["sdxl-kohya-lora"].path
    with safe_open(str(src), "pt") as f:
        kept = f.metadata()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.safetensors"
    save_file(load_file(src), path, {**kept, **metadata})
    return path


def row(engine, path: Path) -> Artifact:
    with open_session(engine) as s:
        return s.exec(select(Artifact).where(Artifact.path == str(path))).one()


@pytest.mark.parametrize("order", ["checkpoint first", "adapter first", "one scan"])
def test_an_adapter_trained_on_a_catalogued_checkpoint_has_its_line_exactly(engine, zoo, tmp_path, order):
    """kohya's ss_new_sd_model_hash is the sha256 of the checkpoint file it trained on."""
    bases, loras = tmp_path / "lib" / "bases", tmp_path / "lib" / "adapters"
    checkpoint = place(zoo, "sdxl-pony-single", bases)
    lora = place(zoo, "sdxl-pony-lora", loras)
    roots = {"checkpoint first": [[bases], [loras]], "adapter first": [[loras], [bases]], "one scan": [[tmp_path]]}
    for folders in roots[order]:
        scan(folders, engine=engine)
    base, adapter = row(engine, checkpoint), row(engine, lora)
    assert adapter.trained_on_sha256 == base.sha256
    assert (adapter.line, adapter.line_confidence) == ("pony", "exact")
    assert adapter.line_evidence[0] == (
        f"trained on tiny-ponyDiffusionV6XL (id {base.id}), the checkpoint whose sha256 is its "
        "ss_new_sd_model_hash: Pony (strong)"
    )
    with open_session(engine) as s:
        trained_on = artifact_detail.trained_on(s, lookup.resolve(s, str(adapter.id)))
    assert (trained_on.id, trained_on.name, trained_on.line) == (base.id, "tiny-ponyDiffusionV6XL", "pony")


def test_the_training_base_s_hash_outranks_a_training_file_name_that_says_otherwise(engine, zoo, tmp_path):
    checkpoint = place(zoo, "sdxl-pony-single", tmp_path / "bases")
    lora = kohya_lora(
        zoo,
        tmp_path / "loras",
        "renamed-base",
        **{**training_base_metadata(checkpoint), "ss_sd_model_name": "illustriousXL_v01.safetensors"},
    )
    scan([tmp_path], engine=engine)
    adapter = row(engine, lora)
    assert (adapter.line, adapter.line_confidence) == ("pony", "exact")
    assert adapter.line_evidence[1] == (
        "weaker evidence for Illustrious: ss_sd_model_name=illustriousXL_v01.safetensors names Illustrious"
    )


def test_a_catalogued_training_base_without_a_line_is_named_in_the_evidence(engine, zoo, tmp_path):
    checkpoint = place(zoo, "sdxl-single", tmp_path / "bases")
    lora = kohya_lora(zoo, tmp_path / "loras", "on-plain-sdxl", **training_base_metadata(checkpoint))
    scan([tmp_path], engine=engine)
    adapter, base = row(engine, lora), row(engine, checkpoint)
    assert adapter.line is None
    assert adapter.line_evidence == [f"trained on tiny-sdxl (id {base.id}), whose line is not known"]


def test_without_its_training_base_an_adapter_s_line_comes_from_the_training_file_name(engine, zoo, tmp_path):
    lora = place(zoo, "sdxl-illustrious-lora", tmp_path)
    scan([tmp_path], engine=engine)
    adapter = row(engine, lora)
    assert (adapter.line, adapter.line_confidence) == ("illustrious", "strong")
    assert adapter.line_evidence == ["ss_sd_model_name=tiny-illustriousXL_v01.safetensors names Illustrious"]
    assert adapter.trained_on_sha256 and adapter.trained_on_sha256 == adapter.training_metadata["ss_new_sd_model_hash"]


def test_a_civitai_sidecar_s_base_model_gives_a_line_the_file_does_not(engine, zoo, tmp_path):
    lora = place(zoo, "sdxl-kohya-lora", tmp_path)  # trained on "tiny-sdxl.safetensors": no line
    lora.with_suffix(".civitai.info").write_text(json.dumps({"baseModel": "NoobAI", "trainedWords": ["ohwx"]}))
    scan([tmp_path], engine=engine)
    adapter = row(engine, lora)
    assert (adapter.line, adapter.line_confidence, adapter.line_evidence) == (
        "noobai",
        "likely",
        [".civitai.info baseModel=NoobAI"],
    )


def test_a_checkpoint_s_line_comes_from_its_title_else_from_its_file_name(engine, zoo, tmp_path):
    titled = place(zoo, "sdxl-illustrious-single", tmp_path)
    renamed = place(zoo, "sdxl-single", tmp_path, "waiIllustriousSDXL_v110.safetensors")
    plain = place(zoo, "sdxl-single", tmp_path / "plain")
    scan([tmp_path], engine=engine)
    assert (row(engine, titled).line, row(engine, titled).line_confidence) == ("illustrious", "strong")
    assert (row(engine, renamed).line, row(engine, renamed).line_confidence) == ("illustrious", "likely")
    assert row(engine, renamed).line_evidence == ["the file name waiIllustriousSDXL_v110 names Illustrious"]
    assert (row(engine, plain).line, row(engine, plain).line_evidence) == (None, [])


def test_a_line_of_another_family_never_contradicts_the_shapes(engine, zoo, tmp_path):
    lora = kohya_lora(zoo, tmp_path, "says-flux", ss_sd_model_name="flux1-dev.safetensors")
    scan([tmp_path], engine=engine)
    adapter = row(engine, lora)
    assert (adapter.base, adapter.line) == ("sdxl", None)
    assert adapter.line_evidence == [
        "ignored: ss_sd_model_name=flux1-dev.safetensors names Flux.1 dev, a line of flux, but the file is sdxl"
    ]


def test_an_unreadable_file_has_no_line(engine, zoo, tmp_path):
    lora = place(zoo, "sdxl-pony-lora", tmp_path)
    scan([tmp_path], engine=engine)
    lora.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    scan([tmp_path], engine=engine)
    adapter = row(engine, lora)
    assert (adapter.status, adapter.line, adapter.line_confidence, adapter.trained_on_sha256) == (
        "error",
        None,
        None,
        None,
    )


def test_rows_an_older_loradex_scanned_get_their_lines_on_the_next_scan(engine, zoo, tmp_path):
    place(zoo, "sdxl-pony-single", tmp_path / "bases")
    lora = place(zoo, "sdxl-pony-lora", tmp_path / "loras")
    scan([tmp_path], engine=engine)
    with open_session(engine) as s:  # as migration 0007 leaves the rows of a catalog made before lines
        for artifact in s.exec(select(Artifact)):
            artifact.line = artifact.line_confidence = artifact.line_evidence = artifact.trained_on_sha256 = None
            artifact.probed_with = 2
            s.add(artifact)
        s.commit()
    report = scan([tmp_path], engine=engine)
    assert (report.reprobed, report.updated, report.added) == (2, 0, 0)
    adapter = row(engine, lora)
    assert (adapter.line, adapter.line_confidence, adapter.probed_with) == ("pony", "exact", PROBE_VERSION)
