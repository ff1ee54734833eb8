"""Compatibility of Flux adapters with Flux checkpoints, on SQLite and PostgreSQL: a kohya LoRA's
fused stems (``img_attn.qkv``, ``linear1``) fit an original file's fused weights by their parts,
and only the components a checkpoint holds are judged (BFL's flux1-dev.safetensors is the
denoiser alone: a LoRA's text-encoder layers are for the text encoders loaded beside it)."""

from __future__ import annotations

import pytest

from loradex.adapters import probe
from loradex.adapters.model.layermap import layer_map
from loradex.adapters.zoo.dit_loras import kohya_lora
from loradex.registry.queries import compat
from loradex.registry.queries.rows import shape_text
from loradex.registry.store.db import session as open_session
from tests.support.catalog_rows import add_artifact, add_probed
from tests.support.dit_checkpoints import reduced_flux, single_file_layout, sparse_file


@pytest.fixture
def session(engine):
    with open_session(engine) as s:
        yield s


@pytest.fixture(scope="module")
def flux_files(tmp_path_factory):
    """Probed: a full-coverage kohya Flux LoRA, and Flux.1 [dev] as BFL ships it (bare) and as
    ComfyUI's all-in-one with CLIP-L (its T5 loaded apart), at real widths with one double and one
    single block (a full-size T5 or denoiser has more parameters than PostgreSQL's INTEGER column
    ``artifact.parameters`` holds)."""
    folder, lm = tmp_path_factory.mktemp("flux"), layer_map(reduced_flux(1, 1))
    lora = kohya_lora(lm, folder / "flux-style.safetensors")
    bare = sparse_file(folder / "flux1-dev.safetensors", single_file_layout(lm))
    comfy = single_file_layout(lm, comfy=True, encoders=("text_encoder",))
    sparse_file(folder / "flux1-dev-comfy.safetensors", comfy)
    return {path.stem: probe(path) for path in (lora, bare, folder / "flux1-dev-comfy.safetensors")}


@pytest.fixture
def rows(session, flux_files):
    """The probed files, and ``flux-te``: an adapter of the style LoRA's text-encoder layers alone."""
    out = {name: add_probed(session, info, name) for name, info in flux_files.items()}
    text = {
        layer.canonical: shape_text(layer.shape)
        for layer in flux_files["flux-style"].layers
        if layer.component != "transformer"
    }
    out["flux-te"] = add_artifact(session, "flux-te", base="flux", layers=text)
    return out


def _counts(infos, name: str) -> tuple[int, int]:
    """(denoiser layers, text-encoder layers) of a probed LoRA."""
    layers = infos[name].layers
    denoiser = sum(1 for layer in layers if layer.component == "transformer")
    return denoiser, len(layers) - denoiser


def test_a_kohya_flux_lora_fits_an_all_in_one_flux_file_its_fused_stems_by_their_parts(session, rows, flux_files):
    result = compat.check(session, rows["flux-style"], rows["flux1-dev-comfy"])
    assert (result.verdict, result.share, result.missing, result.mismatched) == ("compatible", 1.0, [], [])
    held = [layer for layer in flux_files["flux-style"].layers if layer.component != "text_encoder_2"]
    assert result.matched == result.total == len(held)
    assert result.elsewhere and all(c.startswith("text_encoder_2.") for c in result.elsewhere)  # T5 is apart
    # The fused stems were split into canonical layers, each matched on its own rows of the weight.
    stems = {layer.stem for layer in flux_files["flux-style"].layers if layer.rows}
    assert {"lora_unet_double_blocks_0_img_attn_qkv", "lora_unet_single_blocks_0_linear1"} <= stems


def test_against_a_denoiser_only_file_the_text_encoder_layers_are_not_in_this_file(session, rows, flux_files):
    denoiser, text = _counts(flux_files, "flux-style")
    result = compat.check(session, rows["flux-style"], rows["flux1-dev"])
    assert (result.verdict, result.matched, result.total, result.missing) == ("compatible", denoiser, denoiser, [])
    assert len(result.elsewhere) == text and all(c.startswith("text_encoder") for c in result.elsewhere)
    assert result.summary() == (
        f"{denoiser}/{denoiser} layers fit flux1-dev: {text} text-encoder layers not in this file (compatible)"
    )


def test_an_adapter_with_nothing_in_the_file_is_said_so_and_not_listed_as_fitting(session, rows):
    result = compat.check(session, rows["flux-te"], rows["flux1-dev"])
    assert (result.verdict, result.total, result.share) == ("incompatible", 0, 0.0)
    assert result.summary().startswith("nothing to apply to flux1-dev: ")
    assert "flux-te" not in {f.name for f in compat.fits(session, rows["flux1-dev"], min_share=0.0)}


def test_list_fits_and_the_checkpoints_an_adapter_fits_judge_only_what_each_file_holds(session, rows):
    assert [(f.name, f.share) for f in compat.fits(session, rows["flux1-dev"])] == [("flux-style", 1.0)]
    assert {(f.name, f.share) for f in compat.fits(session, rows["flux1-dev-comfy"])} == {
        ("flux-style", 1.0),
        ("flux-te", 1.0),
    }
    by_base = {fit.base.name: fit for fit in compat.fit_by_checkpoint(session, rows["flux-style"])}
    for base, fit in by_base.items():
        checked = compat.check(session, rows["flux-style"], rows[base])
        assert (fit.matched, fit.total, fit.share, fit.verdict) == (
            checked.matched,
            checked.total,
            checked.share,
            checked.verdict,
        )
    assert by_base["flux1-dev"].verdict == by_base["flux1-dev-comfy"].verdict == "compatible"
    assert by_base["flux1-dev"].total < by_base["flux1-dev-comfy"].total
    te = {fit.base.name: (fit.share, fit.verdict) for fit in compat.fit_by_checkpoint(session, rows["flux-te"])}
    assert te == {"flux1-dev": (0.0, "incompatible"), "flux1-dev-comfy": (1.0, "compatible")}


def test_against_another_familys_checkpoint_every_layer_is_judged(session, rows, flux_files, zoo):
    """What an SD1 checkpoint lacks of a Flux LoRA is the family's difference, not a file left apart."""
    sd1 = add_probed(session, probe(zoo["sd1-single"].path), "sd1-single")
    result = compat.check(session, rows["flux-style"], sd1)
    assert (result.verdict, result.total, result.elsewhere) == (
        "incompatible",
        len(flux_files["flux-style"].layers),
        [],
    )
    assert "family flux vs sd1" in result.summary()
