"""The zoo itself, checked against the peers: diffusers loads what it writes."""

from __future__ import annotations

import hashlib

import pytest
import torch
from safetensors import safe_open

from loradex.adapters.model.architectures import LDM_PREFIXES
from loradex.adapters.model.artifact import KINDS
from loradex.adapters.model.layermap import build_layer_map, layer_map
from loradex.adapters.zoo import TINY, Zoo, tiny_single_file, write_clip_tokenizer
from loradex.adapters.zoo.models import build_models
from loradex.adapters.zoo.tokenizer import t5_tokenizer


def _tensors(path) -> dict[str, torch.Tensor]:
    with safe_open(path, "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def _assert_same(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    assert got.keys() == want.keys(), sorted(set(got) ^ set(want))[:10]
    differ = [k for k in got if not torch.equal(got[k].float(), want[k].float())]
    assert not differ, differ[:10]


def test_every_item_is_built(zoo):
    assert len({i.name for i in zoo}) == len(zoo.items) >= 27
    for item in zoo:
        assert item.path.exists(), item
        assert item.kind in set(KINDS) and item.base in {"sd1", "sd2", "sdxl", "sd3", "flux", "unknown"}, item
    assert zoo["sd1-kohya-lora-mislabelled"].base == "sd1"
    assert {i.name for i in zoo.select(kind="checkpoint", format="ldm_single_file")} == {
        "sd1-single",
        "sd1-ckpt",
        "sd2-single",
        "sdxl-single",
        "sdxl-pony-single",
        "sdxl-illustrious-single",
    }
    with pytest.raises(KeyError):
        zoo["no-such-item"]
    assert Zoo.load(zoo.root).items == zoo.items


@pytest.mark.parametrize("base", ["sd1", "sd2", "sdxl"])
def test_tiny_layers_are_full_size_layers(base):
    tiny, full = build_layer_map(TINY[base]), layer_map(base)
    for layer in tiny.layers.values():
        assert layer.name in full, layer.name
        assert full.resolve(layer.kohya) == layer.name
        assert full.layers[layer.name].ldm_key == layer.ldm_key


@pytest.mark.parametrize(("base", "size"), [("sd3", "medium"), ("flux", "")])
def test_tiny_dit_layers_keep_the_full_size_names(base, size):
    """The tiny DiTs keep their family's names (not its widths): each layer is a layer of the full-size
    map, stored under the same original (BFL/SAI) weight and kohya stem."""
    tiny, full = build_layer_map(TINY[base]), layer_map(base, size)
    for layer in tiny.layers.values():
        assert layer.name in full, layer.name
        assert (full.layers[layer.name].ldm_key, full.layers[layer.name].kohya) == (layer.ldm_key, layer.kohya)


def test_t5_tokenizer_encodes_words_and_ends_with_eos(tmp_path):
    from transformers import T5Tokenizer

    t5_tokenizer().save_pretrained(str(tmp_path / "t5"))
    tok = T5Tokenizer.from_pretrained(str(tmp_path / "t5"))
    ids = tok("a photo of a cat").input_ids
    assert len(ids) == 6 and ids[-1] == tok.eos_token_id and tok.unk_token_id not in ids
    assert len(tok) <= TINY["flux"].text_encoders["text_encoder_2"].config["vocab_size"]


@pytest.mark.parametrize(("base", "pipeline"), [("sd3", "StableDiffusion3Pipeline"), ("flux", "FluxPipeline")])
def test_dit_folder_reloads_as_its_pipeline_with_16_latent_channels(zoo, base, pipeline):
    import diffusers

    pipe = getattr(diffusers, pipeline).from_pretrained(zoo[f"{base}-diffusers"].path, dtype=torch.float32)
    assert pipe.vae.config.latent_channels == 16
    assert type(pipe.scheduler).__name__ == "FlowMatchEulerDiscreteScheduler"
    t5 = pipe.tokenizer_3 if base == "sd3" else pipe.tokenizer_2
    assert t5("a photo of a cat").input_ids[-1] == t5.eos_token_id


@pytest.mark.parametrize(("base", "pipeline"), [("sd3", "StableDiffusion3Pipeline"), ("flux", "FluxPipeline")])
def test_dit_diffusers_lora_loads_in_diffusers_on_every_layer(zoo, diffusers_log, base, pipeline):
    import diffusers

    pipe = getattr(diffusers, pipeline).from_pretrained(zoo[f"{base}-diffusers"].path, dtype=torch.float32)
    path = zoo[f"{base}-diffusers-lora"].path
    pipe.load_lora_weights(path)
    # SD3's CLIP-G has no layers in the file: diffusers says so ("safe to ignore"), and nothing else.
    said = [line for line in diffusers_log.getvalue().splitlines() if not line.startswith("No LoRA keys associated")]
    assert said == []
    with safe_open(path, "pt") as f:
        modules = {k.rsplit(".", 2)[0] for k in f.keys()}
    assert any(m.startswith("text_encoder.") for m in modules)
    assert _lora_modules(pipe.transformer, pipe.text_encoder) == len(modules)


def test_tokenizer_loads_and_encodes(tmp_path):
    from transformers import CLIPTokenizer

    folder = write_clip_tokenizer(tmp_path / "tok")
    tok = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    ids = tok("a photo of a cat").input_ids
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id and len(ids) == 7
    assert len(tok) <= TINY["sd1"].text_encoders["text_encoder"].config["vocab_size"]


def test_sd1_folder_reloads(zoo):
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(zoo["sd1-diffusers"].path, dtype=torch.float32)
    assert pipe.unet.config.cross_attention_dim == 768
    assert pipe.text_encoder.config.hidden_size == 768
    assert pipe.tokenizer("a photo of a cat").input_ids[1] != pipe.tokenizer.unk_token_id


def test_sd1_single_file_loads_like_the_folder(zoo):
    """Peer check of the single-file layout: diffusers' from_single_file, offline, with the
    folder as config, gives the folder's weights exactly."""
    from diffusers import StableDiffusionPipeline

    folder = str(zoo["sd1-diffusers"].path)
    single = StableDiffusionPipeline.from_single_file(
        str(zoo["sd1-single"].path), config=folder, local_files_only=True, dtype=torch.float32
    )
    ref = StableDiffusionPipeline.from_pretrained(folder, dtype=torch.float32)
    for component in ("unet", "vae", "text_encoder"):
        _assert_same(getattr(single, component).state_dict(), getattr(ref, component).state_dict())
    with safe_open(zoo["sd1-single"].path, "pt") as f:
        assert f.metadata()["modelspec.architecture"] == "stable-diffusion-v1"


@pytest.mark.parametrize("base", ["sd2", "sdxl"])
def test_single_file_converts_back_exactly(zoo, base):
    """diffusers' LDM converters recover every tensor of the tiny models from the single file."""
    from diffusers.loaders.single_file_utils import (
        convert_ldm_clip_checkpoint,
        convert_ldm_unet_checkpoint,
        convert_ldm_vae_checkpoint,
        convert_open_clip_checkpoint,
    )

    models = build_models(base, 0, torch.float16)
    want = models.state_dicts()
    ckpt = _tensors(zoo[f"{base}-single"].path)
    _assert_same(convert_ldm_unet_checkpoint(ckpt, dict(models.denoiser.config)), want["unet"])
    _assert_same(convert_ldm_vae_checkpoint(ckpt, dict(models.vae.config)), want["vae"])
    for component, spec in TINY[base].text_encoders.items():
        prefix = LDM_PREFIXES[base][component]
        if spec.open_clip:
            got = convert_open_clip_checkpoint(models.text_encoders[component], ckpt, prefix=prefix)
        else:
            got = convert_ldm_clip_checkpoint({k: v for k, v in ckpt.items() if k.startswith(prefix)})
        _assert_same(got, want[component])


def test_single_file_is_deterministic(zoo, tmp_path):
    path = tiny_single_file(tmp_path, "sd1")
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (path, zoo["sd1-single"].path)]
    assert digest[0] == digest[1]


def _lora_modules(*models: torch.nn.Module) -> int:
    return sum(1 for m in models for x in m.modules() if getattr(x, "lora_A", None))


def test_diffusers_lora_loads_without_unexpected_keys(zoo, diffusers_log):
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(zoo["sd1-diffusers"].path, dtype=torch.float32)
    path = zoo["sd1-diffusers-lora"].path
    pipe.load_lora_weights(path)
    assert diffusers_log.getvalue() == ""
    with safe_open(path, "pt") as f:
        keys = list(f.keys())
    assert any(k.startswith("text_encoder.text_model.") for k in keys)
    assert _lora_modules(pipe.unet, pipe.text_encoder) == len({k.rsplit(".", 2)[0] for k in keys})


@pytest.mark.parametrize(("name", "base"), [("sd1-kohya-lora", "sd1"), ("sdxl-kohya-lora", "sdxl")])
def test_kohya_lora_loads_in_diffusers(zoo, diffusers_log, name, base):
    """Peer check of the kohya stems (SGM names for SDXL): diffusers' converter places every one."""
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(zoo[f"{base}-diffusers"].path, dtype=torch.float32)
    pipe.load_lora_weights(zoo[name].path)
    assert diffusers_log.getvalue() == ""
    with safe_open(zoo[name].path, "pt") as f:
        stems = {k.split(".")[0] for k in f.keys()}
    encoders = [getattr(pipe, c) for c in ("text_encoder", "text_encoder_2") if getattr(pipe, c, None) is not None]
    assert _lora_modules(pipe.unet, *encoders) == len(stems)


@pytest.mark.parametrize("line", ["pony", "illustrious"])
def test_a_line_s_lora_names_its_checkpoint_as_kohya_does(zoo, line):
    """kohya records the training file's name and sha256 (``ss_new_sd_model_hash``), and A1111's old
    hash of 64 KiB at 1 MiB (``ss_sd_model_hash``)."""
    from loradex.adapters.io.hashing import hash_file
    from loradex.adapters.io.weights import open_weights

    checkpoint = zoo[f"sdxl-{line}-single"]
    with open_weights(zoo[f"sdxl-{line}-lora"].path) as src:
        meta = src.metadata
    hashes = hash_file(checkpoint.path)
    assert meta["ss_sd_model_name"] == checkpoint.path.name and meta["ss_new_sd_model_hash"] == hashes.sha256
    assert meta["ss_sd_model_hash"] == hashes.model_hash and meta["ss_base_model_version"] == "sdxl_base_v1-0"
    assert zoo[f"sdxl-{line}-lora"].line == checkpoint.line == line
