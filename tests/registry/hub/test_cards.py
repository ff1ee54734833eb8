"""The model card of a DiT adapter names its family's diffusers pipeline and reference model at the
size the adapter fits (SD3.5 Medium or Large, FLUX.1 [dev], FLUX.2 [dev] or [klein] 4B/9B), from
full-size LoRAs scanned into a catalog and staged for publication (no Hub needed)."""

from __future__ import annotations

import pytest

from loradex.adapters.model.layermap import layer_map
from loradex.adapters.zoo.dit_loras import denoiser, kohya_lora
from loradex.registry.hub.cards import front_matter
from loradex.registry.hub.publish import plan_publication
from loradex.registry.services.scan import scan


def _card(engine, tmp_path, family: str, size: str) -> str:
    lib = tmp_path / "lib"
    lib.mkdir()
    kohya_lora(layer_map(family, size), lib / "style.safetensors", select=denoiser)
    scan([lib], engine=engine)
    stage = tmp_path / "stage"
    stage.mkdir()
    return plan_publication(engine, "style", "alice/style", stage).card


@pytest.mark.parametrize(
    ("family", "size", "pipeline", "repo"),
    [
        pytest.param("sd3", "large", "StableDiffusion3Pipeline", "stabilityai/stable-diffusion-3.5-large", id="sd3"),
        pytest.param("flux", "", "FluxPipeline", "black-forest-labs/FLUX.1-dev", id="flux"),
        pytest.param("flux2", "klein-4b", "Flux2KleinPipeline", "black-forest-labs/FLUX.2-klein-4B", id="flux2"),
    ],
)
def test_a_dit_loras_card_names_its_familys_pipeline_and_reference_model_at_its_size(
    engine, tmp_path, family, size, pipeline, repo
):
    card = _card(engine, tmp_path, family, size)
    data = front_matter(card)
    assert data is not None and data["base_model"] == repo
    assert data["tags"][:3] == ["text-to-image", family, "diffusers"]
    assert f"from diffusers import {pipeline}\n" in card
    assert f'pipe = {pipeline}.from_pretrained("{repo}", torch_dtype=torch.bfloat16)' in card
    assert "StableDiffusionPipeline" not in card


@pytest.mark.parametrize(
    ("family", "size", "pipeline", "repo"),
    [
        ("sd3", "medium", "StableDiffusion3Pipeline", "stabilityai/stable-diffusion-3.5-medium"),
        ("flux2", "dev", "Flux2Pipeline", "black-forest-labs/FLUX.2-dev"),
        ("flux2", "klein-9b", "Flux2KleinPipeline", "black-forest-labs/FLUX.2-klein-9B"),
    ],
)
def test_the_other_sizes_of_a_family_name_their_own_reference_models(engine, tmp_path, family, size, pipeline, repo):
    card = _card(engine, tmp_path, family, size)
    assert front_matter(card)["base_model"] == repo and f"{pipeline}.from_pretrained(" in card
