"""LoRA and LyCORIS files applied to a loaded pipeline, switchable without reloading it.

Two routes, chosen per file:

* **diffusers adapters** (``load_lora_weights`` with an adapter name, then ``set_adapters``) for
  plain LoRA/LoCon files in the conventions diffusers converts. diffusers can load a file
  silently in part (a PEFT folder or a legacy attention-processor file loads with no layer
  injected at all), so after loading, the injected layers are counted against the layers
  probe found; a shortfall unloads the adapter and takes the other route.
* **weight patching** for everything else (LoHa, LoKr, DoRA, full deltas, files diffusers
  rejects or loads in part): loradex's own delta math, in float32, added to the module weights
  in place; the original tensors are kept and copied back, so restoring is bit-exact. Written
  by hand because no library patches a live pipeline with LyCORIS algebra and restores it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..artifact import ArtifactInfo, LayerInfo
from ..errors import IncompatibleError, UnsupportedError
from ..factors import dora_delta, layer_factors
from ..probe import probe
from ..weights import open_weights
from .base import check_family

_DIFFUSERS_FORMATS = {"kohya", "diffusers", "peft", "diffusers_legacy"}
_DIFFUSERS_ALGORITHMS = {"lora", "locon"}
_COMPONENTS = ("unet", "text_encoder", "text_encoder_2")


@dataclass
class LoadedLora:
    """One LoRA file known to a pipeline.

    Attributes:
        path: the file or folder.
        info: what probe found in it.
        name: the diffusers adapter name (also for a patched file, as its key).
        route: ``diffusers`` or ``patch``.
        layers: layers applied on the pipeline.
        why_patched: when the route is ``patch``, why diffusers was not used.
    """

    path: Path
    info: ArtifactInfo
    name: str
    route: str
    layers: int
    why_patched: str | None = None


def _module(pipe: Any, canonical: str) -> torch.nn.Module | None:
    component, _, rest = canonical.partition(".")
    model = getattr(pipe, component, None)
    if model is None:
        return None
    # transformers 5 drops "text_model." from CLIPTextModel's module names; files keep it.
    for name in (rest, rest.removeprefix("text_model.")):
        try:
            return model.get_submodule(name)
        except AttributeError:
            continue
    return None


def _weight(module: torch.nn.Module) -> torch.nn.Parameter:
    """The module's own weight, under a PEFT wrapper if diffusers injected one."""
    return getattr(module, "base_layer", module).weight


def _injected(pipe: Any, name: str) -> int:
    from peft.tuners.tuners_utils import BaseTunerLayer

    count = 0
    for component in _COMPONENTS:
        model = getattr(pipe, component, None)
        if model is not None:
            count += sum(1 for m in model.modules() if isinstance(m, BaseTunerLayer) and name in m.lora_A)
    return count


class LoraSet:
    """The LoRA files loaded on one pipeline, and the weights they are applied at now.

    Loading a file is done once; :meth:`apply` then sets any subset at any weights (negative
    too) without reloading the pipeline or the files.
    """

    def __init__(self, pipe: Any, family: str, *, patch_only: bool = False) -> None:
        self.pipe = pipe
        self.family = family
        self.patch_only = patch_only
        self.loaded: dict[Path, LoadedLora] = {}
        self._factors: dict[str, dict[str, tuple[torch.Tensor, torch.Tensor]]] = {}
        self._originals: dict[str, tuple[torch.nn.Parameter, torch.Tensor]] = {}

    # -- loading ----------------------------------------------------------------------

    def load(self, path: Path) -> LoadedLora:
        """Load ``path`` (once) by the route that applies all of its layers."""
        path = Path(path)
        if path in self.loaded:
            return self.loaded[path]
        info = probe(path)
        if info.kind not in ("lora", "lycoris"):
            raise UnsupportedError(f"not a LoRA or LyCORIS file (it is {info.kind})", path=path)
        check_family(info.base, self.family, path)
        name = f"a{len(self.loaded)}_" + re.sub(r"\W", "_", path.stem)[:40]
        targets = self._targets(info)
        if not targets:
            raise IncompatibleError(f"none of its {len(info.layers)} layers exists in the base", path=path)
        why = self._why_not_diffusers(info)
        if why is None:
            why = self._load_through_diffusers(path, name, len(targets))
        if why is None:
            loaded = LoadedLora(path, info, name, "diffusers", len(targets))
        else:
            loaded = LoadedLora(path, info, name, "patch", len(targets), why)
        self.loaded[path] = loaded
        return loaded

    def _targets(self, info: ArtifactInfo) -> list[LayerInfo]:
        return [layer for layer in info.layers if layer.canonical and _module(self.pipe, layer.canonical) is not None]

    def _why_not_diffusers(self, info: ArtifactInfo) -> str | None:
        if self.patch_only:
            return "weight patching asked for"
        if info.format not in _DIFFUSERS_FORMATS:
            return f"diffusers does not load {info.format} files"
        other = sorted(set(info.algorithms) - _DIFFUSERS_ALGORITHMS)
        return f"diffusers does not load {', '.join(other)} layers" if other else None

    def _load_through_diffusers(self, path: Path, name: str, expected: int) -> str | None:
        try:
            self.pipe.load_lora_weights(str(path), adapter_name=name)
        except (ValueError, KeyError, RuntimeError, OSError) as exc:
            self._forget_adapter(name)
            return f"diffusers refused it ({str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__})"
        injected = _injected(self.pipe, name)
        if injected != expected:
            self._forget_adapter(name)
            return f"diffusers applied {injected} of its {expected} layers"
        return None

    def _forget_adapter(self, name: str) -> None:
        try:
            self.pipe.delete_adapters(name)
        except (ValueError, KeyError, AttributeError):
            pass  # nothing of it was injected

    # -- weights ----------------------------------------------------------------------

    def apply(self, weights: list[tuple[LoadedLora, float]]) -> None:
        """Make exactly these LoRAs active at these weights (all others off).

        Patched weights are first restored to the base's own tensors and then recomputed from
        them, so weights never drift however often the mix changes.
        """
        self.restore()
        active = [(lora, w) for lora, w in weights if w != 0]
        adapters = [(lora.name, w) for lora, w in active if lora.route == "diffusers"]
        # Enabled/disabled is set every time, never cached: load_lora_weights activates the file it
        # loads, with freshly wrapped layers enabled, even after disable_lora, so a cached
        # "disabled" let a newly loaded LoRA into a scale-0 (base alone) render.
        if adapters:
            self.pipe.enable_lora()
            self.pipe.set_adapters([n for n, _ in adapters], adapter_weights=[w for _, w in adapters])
        elif any(lora.route == "diffusers" for lora in self.loaded.values()):
            self.pipe.disable_lora()
        patched = [(lora, w) for lora, w in active if lora.route == "patch"]
        if patched:
            self._patch(patched)

    def restore(self) -> None:
        """Copy every patched weight back from the saved original (bit-exact)."""
        with torch.no_grad():
            for param, original in self._originals.values():
                param.copy_(original)
        self._originals.clear()

    def _patch(self, patched: list[tuple[LoadedLora, float]]) -> None:
        sums: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            for lora, weight in patched:
                for layer in self._targets(lora.info):
                    param = _weight(_module(self.pipe, layer.canonical))
                    w0 = param.detach().to(torch.float32)
                    d = self._delta(lora, layer, w0).reshape(param.shape)
                    if layer.canonical in sums:
                        sums[layer.canonical].add_(d, alpha=weight)
                    else:
                        sums[layer.canonical] = d.mul_(weight)
            for canonical, total in sums.items():
                param = _weight(_module(self.pipe, canonical))
                self._originals[canonical] = (param, param.detach().clone())
                param.copy_((param.detach().to(torch.float32) + total).to(param.dtype))

    def _delta(self, lora: LoadedLora, layer: LayerInfo, w0: torch.Tensor) -> torch.Tensor:
        """ΔW of ``layer`` in float32 on the weight's device (DoRA: on the base weight ``w0``)."""
        if layer.algorithm == "dora":
            with open_weights(lora.path) as src:
                return dora_delta(layer, src, w0.reshape(layer.shape).cpu()).to(w0.device)
        cached = self._factors.setdefault(lora.name, {})
        if layer.canonical not in cached:
            with open_weights(lora.path) as src:
                for each in self._targets(lora.info):
                    if each.algorithm != "dora":
                        b, a = layer_factors(lora.info, each, src)
                        cached[each.canonical] = (b.to(w0.device), a.to(w0.device))
        b, a = cached[layer.canonical]
        return b @ a
