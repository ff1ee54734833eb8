"""Building the zoo: the bases and an adapter file per convention, each with what probe must say."""

from __future__ import annotations

import copy
import json
import re
import shutil
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from loradex.adapters.io.writer import save_tensors
from loradex.adapters.model.layermap import Layer, LayerMap, build_layer_map

from . import dit_loras
from .adapter_tensors import (
    DIT_NETWORK_MODULE,
    LORA_FACTOR_SCALE,
    addnet_hash,
    either,
    kohya_fixture,
    kohya_metadata,
    linear_only,
    lora_factors,
    randn,
    self_attention,
    text_attention_mlp,
    unet_attention,
    unet_resnet,
)
from .bases import ldm_ckpt, pipeline_folder, single_file
from .clip import tiny_clip_folder
from .dit_loras import denoiser
from .models import (
    MODELSPEC_ARCHITECTURE,
    TINY,
    TinyModels,
    build_controlnet,
    build_models,
)
from .single_files import controlnet_to_ldm


@dataclass(frozen=True)
class ZooItem:
    """One artifact of the zoo and what ``probe`` must say about it."""

    name: str  #: short unique id, e.g. ``"sd1-kohya-lora"``
    path: Path
    kind: str
    format: str
    base: str
    line: str | None = None  #: the model line the catalog must give it (with the whole zoo scanned)


@dataclass
class Zoo:
    """The items built under ``root``."""

    root: Path
    items: list[ZooItem]

    @classmethod
    def load(cls, root: Path) -> Zoo:
        """The zoo that :func:`build_zoo` built under ``root``, from its ``zoo.json``."""
        root = Path(root)
        rows = json.loads((root / "zoo.json").read_text())["items"]
        return cls(root, [ZooItem(**{**row, "path": root / row["path"]}) for row in rows])

    def __getitem__(self, name: str) -> ZooItem:
        for item in self.items:
            if item.name == name:
                return item
        raise KeyError(f"no zoo item {name!r}; known: {', '.join(i.name for i in self.items)}")

    def __iter__(self) -> Iterator[ZooItem]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def select(self, *, kind: str | None = None, format: str | None = None, base: str | None = None) -> list[ZooItem]:
        """The items matching every given field."""
        return [
            i
            for i in self.items
            if (kind or i.kind) == i.kind and (format or i.format) == i.format and (base or i.base) == i.base
        ]


# ---------------------------------------------------------------------------------------
# The build


class _Builder:
    """Holds the per-build state: tiny models and layer maps, built once per base."""

    def __init__(self, root: Path, seed: int, lora_scale: float) -> None:
        self.root, self.seed, self.lora_scale = root, seed, lora_scale
        self.bases_dir, self.adapters_dir = root / "bases", root / "adapters"
        self._models: dict[str, TinyModels] = {}
        self._maps: dict[str, LayerMap] = {}
        self.items: list[ZooItem] = []

    def models(self, base: str) -> TinyModels:
        if base not in self._models:
            self._models[base] = build_models(base, self.seed, torch.float16)
        return self._models[base]

    def layer_map(self, base: str) -> LayerMap:
        if base not in self._maps:
            self._maps[base] = build_layer_map(TINY[base])
        return self._maps[base]

    def layers(self, base: str, select: Callable[[Layer], bool]) -> list[Layer]:
        return [layer for layer in self.layer_map(base).layers.values() if select(layer)]

    def gen(self, name: str) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 7919 + zlib.crc32(name.encode()))

    def add(self, name: str, path: Path, kind: str, format: str, base: str, line: str | None = None) -> None:
        self.items.append(ZooItem(name, path, kind, format, base, line))

    def kohya(
        self,
        name: str,
        base: str,
        select: Callable[[Layer], bool],
        *,
        algo: str = "lora",
        rank: int = 4,
        alpha: float = 4.0,
        dtype: torch.dtype = torch.float16,
        kind: str = "lora",
        format: str = "kohya",
        claimed_base: str | None = None,
        line: str | None = None,
        **meta,
    ) -> None:
        """A kohya-family safetensors file (LoRA, LoCon or any LyCORIS algorithm)."""
        weights = self.models(base).weights() if algo == "dora" else None
        tensors = kohya_fixture(
            self.layers(base, select), algo, rank, alpha, self.gen(name), dtype, weights, self.lora_scale
        )
        metadata = kohya_metadata(name, base, rank, alpha, claimed_base=claimed_base, **meta)
        metadata["sshs_model_hash"] = addnet_hash(tensors, metadata)
        path = self.adapters_dir / f"{name}.safetensors"
        save_tensors(path, tensors, metadata)
        self.add(name, path, kind, format, base, line)


_ATTN_QKVO = re.compile(r"\.(attn[12])\.(to_q|to_k|to_v|to_out\.0)$")
_SELF_ATTN = re.compile(r"\.self_attn\.(q|k|v|out)_proj$")


def _diffusers_lora(b: _Builder) -> None:
    """Keys ``unet.<path>.lora_A.weight``, ``text_encoder.text_model.<path>.lora_B.weight``,
    written by diffusers' own ``save_lora_weights`` (as its DreamBooth LoRA script does)."""
    from diffusers import StableDiffusionPipeline

    name, gen = "sd1-diffusers-lora", b.gen("sd1-diffusers-lora")
    parts: dict[str, dict[str, torch.Tensor]] = {"unet": {}, "text_encoder": {}}
    for layer in b.layers("sd1", lambda spec: bool(_ATTN_QKVO.search(spec.name) or _SELF_ATTN.search(spec.name))):
        down, up = lora_factors(layer.shape, 4, gen, b.lora_scale)
        path = layer.name.removeprefix(layer.component + ".")
        parts[layer.component] |= {f"{path}.lora_A.weight": down, f"{path}.lora_B.weight": up}
    StableDiffusionPipeline.save_lora_weights(
        b.adapters_dir,
        unet_lora_layers=parts["unet"],
        text_encoder_lora_layers=parts["text_encoder"],
        weight_name=f"{name}.safetensors",
    )
    b.add(name, b.adapters_dir / f"{name}.safetensors", "lora", "diffusers", "sd1")


def _peft_lora(b: _Builder) -> None:
    """A PEFT folder made by PEFT itself over the tiny SD1 UNet."""
    from peft import LoraConfig, get_peft_model

    name = "sd1-peft-lora"
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(b.seed * 7919 + zlib.crc32(name.encode()))
        model = get_peft_model(copy.deepcopy(b.models("sd1").denoiser).float(), config)
    folder = b.adapters_dir / name
    model.save_pretrained(str(folder))
    # PEFT lists target_modules from a set (order varies per process); sort for a stable file.
    config_file = folder / "adapter_config.json"
    data = json.loads(config_file.read_text())
    data["target_modules"] = sorted(data["target_modules"])
    config_file.write_text(json.dumps(data, indent=2, sort_keys=True))
    b.add(name, folder, "lora", "peft", "sd1")


def _legacy_lora(b: _Builder) -> None:
    """An old attention-processor LoRA: UNet only, ``…attn1.processor.to_q_lora.down.weight``."""
    name, gen = "sd1-legacy-lora", b.gen("sd1-legacy-lora")
    tensors: dict[str, torch.Tensor] = {}
    for layer in b.layers("sd1", lambda spec: spec.component == "unet" and bool(_ATTN_QKVO.search(spec.name))):
        path = layer.name.removeprefix("unet.")
        m = _ATTN_QKVO.search(path)
        assert m is not None  # the layers were chosen by this pattern
        stem = f"{path[: m.start()]}.{m[1]}.processor.{m[2].removesuffix('.0')}_lora"
        down, up = lora_factors(layer.shape, 4, gen, b.lora_scale)
        tensors |= {f"{stem}.down.weight": down, f"{stem}.up.weight": up}
    file = b.adapters_dir / f"{name}.bin"
    torch.save(tensors, file)
    b.add(name, file, "lora", "diffusers_legacy", "sd1")


def _embeddings(b: _Builder) -> None:
    """Textual inversions in the four conventions."""
    gen = b.gen("embeddings")
    concept = b.adapters_dir / "sd1-ti-diffusers"
    concept.mkdir()
    torch.save({"<cat-toy>": randn(gen, 768, scale=0.02)}, concept / "learned_embeds.bin")
    (concept / "token_identifier.txt").write_text("<cat-toy>")
    b.add("sd1-ti-diffusers", concept / "learned_embeds.bin", "textual_inversion", "diffusers_embedding", "sd1")

    a1111 = {
        "string_to_token": {"*": 265},
        "string_to_param": {"*": randn(gen, 2, 768, scale=0.02)},
        "name": "cat-toy",
        "step": 500,
        "sd_checkpoint": "abc",
        "sd_checkpoint_name": "tiny",
    }
    torch.save(a1111, b.adapters_dir / "sd1-ti-a1111.pt")
    b.add("sd1-ti-a1111", b.adapters_dir / "sd1-ti-a1111.pt", "textual_inversion", "a1111_embedding", "sd1")

    save_tensors(b.adapters_dir / "sd2-ti-a1111.safetensors", {"emb_params": randn(gen, 3, 1024, scale=0.02)})
    b.add("sd2-ti-a1111", b.adapters_dir / "sd2-ti-a1111.safetensors", "textual_inversion", "a1111_embedding", "sd2")

    save_tensors(
        b.adapters_dir / "sdxl-ti.safetensors",
        {"clip_l": randn(gen, 2, 768, scale=0.02).half(), "clip_g": randn(gen, 2, 1280, scale=0.02).half()},
    )
    b.add("sdxl-ti", b.adapters_dir / "sdxl-ti.safetensors", "textual_inversion", "sdxl_embedding", "sdxl")


_CONTROL_ONLY = ("input_hint_block.", "zero_convs.", "middle_block_out.")


def _controlnets(b: _Builder) -> None:
    """ControlNet as a diffusers folder and as an original single file; a Stability Control-LoRA."""
    sd1 = build_controlnet(b.models("sd1"), b.seed, torch.float16)
    sd1.save_pretrained(b.adapters_dir / "sd1-controlnet-diffusers", safe_serialization=True)
    b.add(
        "sd1-controlnet-diffusers", b.adapters_dir / "sd1-controlnet-diffusers", "controlnet", "diffusers_folder", "sd1"
    )

    ldm = controlnet_to_ldm(sd1.state_dict(), dict(sd1.config))
    save_tensors(
        b.adapters_dir / "sd1-controlnet-single.safetensors", {f"control_model.{k}": v for k, v in ldm.items()}
    )
    b.add(
        "sd1-controlnet-single",
        b.adapters_dir / "sd1-controlnet-single.safetensors",
        "controlnet",
        "ldm_single_file",
        "sd1",
    )

    # As ComfyUI's ControlLoraSave (the Stability format): every >=2-D weight the control model
    # shares with the UNet becomes a `.up`/`.down` pair of the difference; the rest is stored.
    xl = build_controlnet(b.models("sdxl"), b.seed)
    gen = b.gen("sdxl-control-lora")
    tensors: dict[str, torch.Tensor] = {}
    for key, t in controlnet_to_ldm(xl.state_dict(), dict(xl.config)).items():
        if t.ndim >= 2 and not key.startswith(_CONTROL_ONLY):
            down, up = lora_factors(tuple(t.shape), min(4, t.shape[0], t.shape[1]), gen, b.lora_scale)
            tensors |= {
                f"{key.removesuffix('.weight')}.up": up.half(),
                f"{key.removesuffix('.weight')}.down": down.half(),
            }
        else:
            tensors[key] = t.half()
    tensors["lora_controlnet"] = torch.tensor([])
    save_tensors(b.adapters_dir / "sdxl-control-lora.safetensors", tensors)
    b.add("sdxl-control-lora", b.adapters_dir / "sdxl-control-lora.safetensors", "control_lora", "control_lora", "sdxl")


def _hypernetwork(b: _Builder) -> None:
    """An A1111 hypernetwork: per attention width, two MLPs (for k and v), structure 1-2-1."""
    gen = b.gen("sd1-hypernetwork")

    def mlp(dim: int) -> dict[str, torch.Tensor]:
        return {
            "linear.0.weight": randn(gen, 2 * dim, dim).half(),
            "linear.0.bias": randn(gen, 2 * dim).half(),
            "linear.1.weight": randn(gen, dim, 2 * dim).half(),
            "linear.1.bias": randn(gen, dim).half(),
        }

    # A1111's layout: the MLPs keyed by their width, beside the settings keyed by name.
    state: dict[int | str, Any] = {dim: [mlp(dim), mlp(dim)] for dim in (768, 320)}
    state |= {
        "name": "hn",
        "layer_structure": [1, 2, 1],
        "activation_func": "linear",
        "is_layer_norm": False,
        "weight_initialization": "Normal",
        "use_dropout": False,
        "activate_output": False,
        "last_layer_dropout": False,
        "step": 1000,
        "sd_checkpoint": "abc",
        "sd_checkpoint_name": "tiny",
    }
    torch.save(state, b.adapters_dir / "sd1-hypernetwork.pt")
    b.add("sd1-hypernetwork", b.adapters_dir / "sd1-hypernetwork.pt", "hypernetwork", "a1111_hypernetwork", "sd1")


#: SDXL lines as users keep them: the checkpoint under its release's file name and title, and a
#: LoRA kohya trained on it. Each checkpoint has weights of its own (another seed): lines are
#: separate trainings of one architecture, which only names and hashes tell apart.
_SDXL_LINES = (
    ("pony", "tiny-ponyDiffusionV6XL", "Pony Diffusion V6 XL (tiny)", "score_9", {"score_9": 30, "pony": 12}),
    ("illustrious", "tiny-illustriousXL_v01", "Illustrious XL v0.1 (tiny)", "masterpiece", {"masterpiece": 30}),
)


def _sdxl_lines(b: _Builder) -> None:
    for offset, (line, file_name, title, trigger, tags) in enumerate(_SDXL_LINES, start=1):
        models = build_models("sdxl", b.seed + offset, torch.float16)
        checkpoint = single_file(models, b.bases_dir, name=file_name, title=title)
        b.add(f"sdxl-{line}-single", checkpoint, "checkpoint", "ldm_single_file", "sdxl", line)
        select = either(unet_attention, text_attention_mlp)
        b.kohya(f"sdxl-{line}-lora", "sdxl", select, trigger=trigger, tags=tags, trained_on=checkpoint, line=line)


def clip_attention(layer: Layer) -> bool:
    """The attention of a DiT's first CLIP encoder. Not T5 (diffusers' DiT pipelines load no T5
    LoRA), nor SD3's CLIP-G: where the tiny transformer's widths say nothing, layers of a second
    text encoder are SDXL's evidence to probe."""
    return ".self_attn." in layer.name and layer.component == "text_encoder"


def _dit_loras(b: _Builder) -> None:
    """A tiny SD3 and Flux.1 LoRA in each producer's keys (:mod:`.dit_loras`), on the denoiser:
    kohya's fused stems with alphas and sd-scripts' metadata, diffusers' own ``save_lora_weights``,
    OneTrainer (with its modelspec), ComfyUI/ai-toolkit's ``diffusion_model.``, XLabs' processors
    (Flux) and a LyCORIS LoKr (Flux) on kohya's stems.

    Their widths fit none of the family's published sizes: probe names the family by their layer
    names (no size) and splits the fused kohya stems in the published proportions; quick-test places
    them on the loaded base itself (:meth:`loradex.adapters.generate.base.LoadedBase.architecture`)."""
    from diffusers.pipelines.flux.pipeline_flux import FluxPipeline
    from diffusers.pipelines.stable_diffusion_3.pipeline_stable_diffusion_3 import StableDiffusion3Pipeline

    rank, scale, half = 4, b.lora_scale, torch.float16
    for base, pipeline in (("sd3", StableDiffusion3Pipeline), ("flux", FluxPipeline)):
        lm, folder = b.layer_map(base), b.adapters_dir
        line = "dev" if base == "flux" else None  # modelspec.architecture flux-1-dev names FLUX.1 [dev]
        b.kohya(f"{base}-kohya-lora", base, denoiser, module=DIT_NETWORK_MODULE[base], trigger="orange cat", line=line)
        # As diffusers' DreamBooth LoRA scripts train with --train_text_encoder: the CLIP encoders too.
        factors = dit_loras.diffusers_tensors(
            lm, rank=rank, scale=scale, select=either(denoiser, clip_attention), dtype=half
        )
        parts: dict[str, dict[str, torch.Tensor]] = {}
        for key, tensor in factors.items():
            component, _, module = key.partition(".")
            parts.setdefault(f"{component}_lora_layers", {})[module] = tensor
        name = f"{base}-diffusers-lora"
        pipeline.save_lora_weights(folder, weight_name=f"{name}.safetensors", **parts)  # type: ignore[arg-type]
        b.add(name, folder / f"{name}.safetensors", "lora", "diffusers", base)
        name = f"{base}-onetrainer-lora"
        meta = {"modelspec.architecture": f"{MODELSPEC_ARCHITECTURE[base]}/lora"}
        path = dit_loras.onetrainer_lora(
            lm, folder / f"{name}.safetensors", rank=rank, scale=scale, dtype=half, metadata=meta
        )
        b.add(name, path, "lora", "diffusers", base, line)
        name = f"{base}-comfy-lora"
        path = dit_loras.original_lora(
            lm, folder / f"{name}.safetensors", "diffusion_model.", rank=rank, scale=scale, dtype=half
        )
        b.add(name, path, "lora", "diffusers", base)
    path = dit_loras.xlabs_lora(
        b.layer_map("flux"), b.adapters_dir / "flux-xlabs-lora.safetensors", rank=rank, scale=scale, dtype=half
    )
    b.add("flux-xlabs-lora", path, "lora", "diffusers_legacy", "flux")
    b.kohya(
        "flux-lycoris-lokr",
        "flux",
        denoiser,
        algo="lokr",
        dtype=torch.float32,
        kind="lycoris",
        format="lycoris",
        module="lycoris.kohya",
        args={"algo": "lokr", "factor": "-1"},
        line="dev",
    )


def _unknown(b: _Builder) -> None:
    save_tensors(b.adapters_dir / "unknown.safetensors", {"foo.bar.weight": randn(b.gen("unknown"), 8, 8)})
    b.add("unknown", b.adapters_dir / "unknown.safetensors", "unknown", "unknown", "unknown")


def build_zoo(root: Path, *, seed: int = 0, lora_scale: float = LORA_FACTOR_SCALE) -> Zoo:
    """Build every base and adapter of the zoo under ``root`` (created; rebuilt if present).

    Only ``root/bases``, ``root/adapters``, ``root/eval`` (a tiny CLIP and prompts for ``loradex eval``,
    not catalogued) and ``root/zoo.json`` are touched. Returns the :class:`Zoo`, whose items carry the
    (kind, format, base) that ``probe`` must report. ``lora_scale``: the spread of LoRA factors
    (:data:`VISIBLE_LORA_SCALE` for a demo whose LoRAs show in the image).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    b = _Builder(root, seed, lora_scale)
    for folder in (b.bases_dir, b.adapters_dir, root / "eval"):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()

    for base in ("sd1", "sdxl", "sd3", "flux"):
        b.add(f"{base}-diffusers", pipeline_folder(b.models(base), b.bases_dir), "checkpoint", "diffusers_folder", base)
    for base in ("sd1", "sd2", "sdxl"):
        b.add(f"{base}-single", single_file(b.models(base), b.bases_dir), "checkpoint", "ldm_single_file", base)
    b.add("sd1-ckpt", ldm_ckpt(b.models("sd1"), b.bases_dir), "checkpoint", "ldm_single_file", "sd1")

    unet_te = either(unet_attention, text_attention_mlp)
    b.kohya("sd1-kohya-lora", "sd1", unet_te, trigger="orange cat")
    b.kohya("sd1-kohya-lora-mislabelled", "sd1", unet_te, alpha=2.0, dtype=torch.float32, claimed_base="sdxl")
    b.kohya(
        "sd1-kohya-locon",
        "sd1",
        either(unet_te, unet_resnet),
        dtype=torch.float32,
        args={"conv_dim": "4", "conv_alpha": "4"},
    )
    b.kohya("sd2-kohya-lora", "sd2", unet_te, alpha=2.0, dtype=torch.float32, tags={"dog": 30, "sks": 30})
    b.kohya("sdxl-kohya-lora", "sdxl", unet_te, trigger="ohwx woman", tags={"woman": 20, "portrait": 8})
    b.kohya("sdxl-kohya-slider", "sdxl", self_attention, rank=2, alpha=1.0, tags={"face": 10})
    lycoris: dict[str, Any] = dict(kind="lycoris", format="lycoris", module="lycoris.kohya")
    b.kohya(
        "sd1-lycoris-loha",
        "sd1",
        either(unet_te, unet_resnet),
        algo="loha",
        alpha=2.0,
        args={"algo": "loha", "conv_dim": "4", "conv_alpha": "2"},
        **lycoris,
    )
    b.kohya(
        "sd1-lycoris-lokr",
        "sd1",
        linear_only(unet_te),
        algo="lokr",
        alpha=4.0,
        dtype=torch.float32,
        args={"algo": "lokr", "factor": "-1"},
        **lycoris,
    )
    b.kohya(
        "sd1-lycoris-dora",
        "sd1",
        linear_only(unet_te),
        algo="dora",
        alpha=4.0,
        args={"algo": "lora", "dora_wd": "True", "wd_on_output": "True"},
        **lycoris,
    )
    b.kohya(
        "sd1-lycoris-full",
        "sd1",
        linear_only(unet_attention),
        algo="full",
        alpha=1.0,
        dtype=torch.float32,
        args={"algo": "full"},
        **lycoris,
    )

    for build in (
        _sdxl_lines,
        _dit_loras,
        _diffusers_lora,
        _peft_lora,
        _legacy_lora,
        _embeddings,
        _controlnets,
        _hypernetwork,
        _unknown,
    ):
        build(b)
    tiny_clip_folder(root / "eval" / "clip", seed)
    (root / "eval" / "prompts.txt").write_text("orange cat\nohwx woman, portrait\n")
    zoo = Zoo(root, b.items)
    rows = [{**asdict(i), "path": str(i.path.relative_to(root))} for i in zoo.items]
    (root / "zoo.json").write_text(json.dumps({"seed": seed, "items": rows}, indent=1))
    return zoo
