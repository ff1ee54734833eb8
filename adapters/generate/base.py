"""Loading a base model for generation: a diffusers folder, a single-file checkpoint or a Hub id.

diffusers does the loading (``from_pretrained`` / ``from_single_file``); this module decides
which, finds the architecture's configs for a single file (a ``--config`` folder or the local
Hugging Face cache), picks device and dtype, and turns the libraries' many failure modes into
one line a user can act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loradex.adapters.errors import ArtifactNotFoundError, IncompatibleError, UnsupportedError
from loradex.adapters.model.architectures import DIT_BASES, Architecture, architecture
from loradex.adapters.model.artifact import looks_like_hub_id


@dataclass(frozen=True)
class FamilyPipeline:
    """What one family's pipeline call takes (the pipeline class is the family entry's
    :attr:`~loradex.adapters.model.architectures.Architecture.pipeline`).

    Attributes:
        guidance: its default ``guidance_scale`` (FLUX.1 [dev]'s is its distilled guidance, not CFG).
        negative: whether it takes a negative prompt (FLUX.1 is guidance-distilled: it does not).
        flow: a flow-matching DiT, sampled by its own scheduler rather than A1111's samplers.
    """

    guidance: float = 7.0
    negative: bool = True
    flow: bool = False


PIPELINES = {
    "sd1": FamilyPipeline(),
    "sd2": FamilyPipeline(),
    "sdxl": FamilyPipeline(),
    "sd3": FamilyPipeline(flow=True),
    "flux": FamilyPipeline(guidance=3.5, negative=False, flow=True),
}
#: The files diffusers' single-file loader takes from a config repo (its own ``allow_patterns``,
#: diffusers.loaders.single_file): configs, tokenizer vocabularies, never weights.
CONFIG_PATTERNS = ("*.json", "*.txt", "*.model")


def config_download_command(repo: str) -> str:
    """The ``hf download`` command that fetches only ``repo``'s configs into the local cache.

    Each pattern gets its own ``--include``: the ``hf`` CLI (Typer) takes one value per option,
    so ``--exclude A B`` made B a file name to download and fetched the weights instead.
    """
    return f"hf download {repo} " + " ".join(f"--include '{pattern}'" for pattern in CONFIG_PATTERNS)


@dataclass(frozen=True)
class Placement:
    """Where the models run: the torch device and dtype names (``cuda``/``mps``/``cpu``; ``fp16``/``fp32``…)."""

    device: str
    dtype: str
    #: diffusers' model CPU offload (CUDA only): each model moves to the GPU only while it runs.
    offload: bool = False

    @property
    def torch_dtype(self) -> Any:
        import torch

        return {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[self.dtype]


def placement(device: str | None = None, dtype: str | None = None, *, offload: bool = False) -> Placement:
    """The device (cuda, then mps, then cpu) and its dtype (fp16 on accelerators, fp32 on the CPU,
    where half precision is slow and some kernels lack it), unless given."""
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    if dtype is None:
        dtype = "fp32" if device.split(":")[0] == "cpu" else "fp16"
    if dtype not in ("fp16", "bf16", "fp32"):
        raise UnsupportedError(f"unknown dtype {dtype!r}; choose fp16, bf16 or fp32")
    if offload and not device.startswith("cuda"):
        raise UnsupportedError(f"--offload needs a CUDA device; this run is on {device}")
    return Placement(device, dtype, offload)


@dataclass
class LoadedBase:
    """A loaded base pipeline and what a record says about it.

    Attributes:
        pipe: the diffusers text-to-image pipeline.
        source: the folder, file or Hub id as given (paths made absolute).
        family: ``sd1``, ``sd2``, ``sdxl``, ``sd3`` or ``flux``.
        path: the file or folder the weights came from (a Hub snapshot folder for a Hub id).
    """

    pipe: Any
    source: str
    family: str
    path: Path

    @property
    def renders(self) -> FamilyPipeline:
        return PIPELINES[self.family]

    def architecture(self) -> Architecture | None:
        """A DiT's own architecture: the family's entry with the loaded transformer's config, on
        which adapters' layers are placed (a base of another depth or width than the published
        sizes, such as the zoo's tiny ones, keeps the layers it has); None for the UNet families."""
        if self.family not in DIT_BASES:
            return None
        config = {k: v for k, v in self.pipe.transformer.config.items() if not k.startswith("_")}
        family = architecture(self.family)
        return Architecture(self.family, config, family.text_encoders, family.denoiser_class)


def offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def base_family(path: Path) -> str:
    """The family of the checkpoint at ``path`` (from its header), refused unless quick-test
    generates with it."""
    from loradex.adapters.model.probe import probe

    info = probe(path)
    if info.kind != "checkpoint":
        raise UnsupportedError(f"the base must be a checkpoint; this is {info.kind}", path=path)
    if info.base not in PIPELINES:
        raise UnsupportedError(
            f"quick-test generates with SD1.x, SD2.x, SDXL, SD3 and FLUX.1 bases; this one is {info.base}", path=path
        )
    if info.base in DIT_BASES and not path.is_dir():
        # diffusers reads an original DiT file only with the full-size configs from the Hub.
        raise UnsupportedError(
            f"quick-test loads a {info.base} base from a diffusers folder (model_index.json, transformer/ …); "
            "this is a single file",
            path=path,
        )
    return info.base


def config_folder(path: Path, family: str, config: str | Path | None) -> Path | None:
    """The diffusers folder holding the configs of the base at ``path``: the folder itself, the
    ``config`` folder, or the config repo's snapshot in the local Hugging Face cache; None when
    they would still have to be downloaded.

    Raises:
        ArtifactNotFoundError: ``config`` is not a diffusers pipeline folder.
        UnsupportedError: a single file whose configs are not in the cache while offline.
    """
    if path.is_dir():
        return path
    if config is not None:
        folder = Path(config).expanduser().resolve()
        if not (folder / "model_index.json").is_file() and not (folder / "unet" / "config.json").is_file():
            raise ArtifactNotFoundError(
                "--config must be a diffusers pipeline folder (model_index.json, "
                "unet/config.json …) of the same architecture",
                path=folder,
            )
        return folder
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(architecture(family).hub_model, "model_index.json")
    if isinstance(cached, str):
        return Path(cached).parent
    if offline():
        raise missing_configs(path, family)
    return None


def missing_configs(path: Path, family: str) -> UnsupportedError:
    """The one line that says both ways to give a single file's configs."""
    repo = architecture(family).hub_model
    return UnsupportedError(
        f"a single-file {family} checkpoint needs the diffusers configs of {repo}, which are not in the local "
        f"Hugging Face cache; fetch them once ({config_download_command(repo)}) or give --config DIR, a diffusers "
        "folder of the same architecture",
        path=path,
    )


def load_base(source: str | Path, placement: Placement, *, config: str | Path | None = None) -> LoadedBase:
    """Load the base ``source`` as a text-to-image pipeline on ``placement``.

    Raises:
        ArtifactNotFoundError: no such file or folder, or a Hub id not in the cache while offline.
        UnsupportedError: not a checkpoint of a family loradex generates with (SD1.x, SD2.x, SDXL,
            SD3, FLUX.1; the DiTs from a diffusers folder), or a single file whose configs are nowhere
            to be found (says the two ways to give them).
    """
    from loradex.adapters.libraries import quiet

    quiet()
    import diffusers

    path = Path(source).expanduser()
    if path.exists():
        return _load_local(diffusers, path.resolve(), placement, config)
    text = str(source)
    if not looks_like_hub_id(text):
        raise ArtifactNotFoundError("no such file or folder", path=path)
    return _load_hub(diffusers, text, placement)


def _load_local(diffusers: Any, path: Path, where: Placement, config: str | Path | None) -> LoadedBase:
    family = base_family(path)
    configs = config_folder(path, family, config)  # refuses a bad --config before loading
    cls = getattr(diffusers, architecture(family).pipeline)
    kwargs = dict(torch_dtype=where.torch_dtype)
    try:
        if path.is_dir():
            pipe = cls.from_pretrained(path, local_files_only=True, **kwargs)
        elif config is not None:
            pipe = cls.from_single_file(path, config=str(configs), local_files_only=True, **kwargs)
        else:
            pipe = _from_single_file(cls, path, family, kwargs)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise UnsupportedError(
            f"diffusers could not load it as {architecture(family).pipeline}: {_first_line(exc)}", path=path
        ) from exc
    return LoadedBase(_placed(pipe, where), str(path), family, path)


def _from_single_file(cls: Any, path: Path, family: str, kwargs: dict) -> Any:
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return cls.from_single_file(path, config=architecture(family).hub_model, local_files_only=offline(), **kwargs)
    except (LocalEntryNotFoundError, OSError) as exc:
        if isinstance(exc, LocalEntryNotFoundError) or "cache" in str(exc) or "connect" in str(exc).lower():
            raise missing_configs(path, family) from exc
        raise


def _load_hub(diffusers: Any, repo: str, where: Placement) -> LoadedBase:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = Path(
            snapshot_download(
                repo, local_files_only=offline(), allow_patterns=["*.json", "*.txt", "*.model", "*.safetensors"]
            )
        )
    except LocalEntryNotFoundError as exc:
        raise ArtifactNotFoundError(
            f"the Hub model {repo} is not in the local Hugging Face cache and the Hub is "
            "not reachable (HF_HUB_OFFLINE or no network); download it once or give a "
            "local folder or file"
        ) from exc
    except OSError as exc:
        raise ArtifactNotFoundError(f"the Hub model {repo} could not be fetched: {_first_line(exc)}") from exc
    loaded = _load_local(diffusers, folder, where, None)
    return LoadedBase(loaded.pipe, repo, loaded.family, folder)


def _placed(pipe: Any, where: Placement) -> Any:
    pipe.set_progress_bar_config(disable=True)
    if where.offload:
        pipe.enable_model_cpu_offload(device=where.device)
        return pipe
    return pipe.to(where.device)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_family(adapter_family: str, base_family: str, path: Path) -> None:
    """Refuse an adapter made for another family than the base's (the layers would not fit)."""
    if adapter_family not in ("unknown", base_family):
        raise IncompatibleError(f"made for {adapter_family}, but the base is {base_family}", path=path)
