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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from loradex.adapters.errors import IncompatibleError, UnsupportedError
from loradex.adapters.io.weights import open_weights
from loradex.adapters.model.architectures import Architecture
from loradex.adapters.model.artifact import ArtifactInfo, LayerInfo
from loradex.adapters.model.probe import probe
from loradex.adapters.ops.factors import dora_delta, layer_factors
from loradex.adapters.words import count

from .base import check_family

_DIFFUSERS_FORMATS = {"kohya", "diffusers", "peft", "diffusers_legacy"}
_DIFFUSERS_ALGORITHMS = {"lora", "locon"}
_COMPONENTS = ("unet", "transformer", "text_encoder", "text_encoder_2", "text_encoder_3")


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


#: One file's contribution to a patched layer: (file, its layer, weight).
_Term = tuple[LoadedLora, LayerInfo, float]


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
    weight = getattr(module, "base_layer", module).weight
    assert isinstance(weight, torch.nn.Parameter)  # a Linear's or Conv2d's weight is a Parameter
    return weight


def _injected(pipe: Any, name: str) -> int:
    from peft.tuners.lora import LoraLayer

    count = 0
    for component in _COMPONENTS:
        model = getattr(pipe, component, None)
        if model is not None:
            count += sum(1 for m in model.modules() if isinstance(m, LoraLayer) and name in m.lora_A)
    return count


class LoraSet:
    """The LoRA files loaded on one pipeline, and the weights they are applied at now.

    Loading a file is done once; :meth:`apply` then sets any subset at any weights (negative
    too) without reloading the pipeline or the files.
    """

    #: Files kept loaded at most; the least recently used one beyond it is unloaded (an SDXL LoRA
    #: holds 100-400 MB, and a TUI session tries many).
    keep = 8

    def __init__(
        self, pipe: Any, family: str, *, patch_only: bool = False, architecture: Architecture | None = None
    ) -> None:
        self.pipe = pipe
        self.family = family
        self.patch_only = patch_only
        #: A DiT base's own architecture, on which each file's layers are placed (its fused stems
        #: split by the base's own widths).
        self.architecture = architecture
        self.loaded: dict[Path, LoadedLora] = {}
        self._factors: dict[str, dict[str, tuple[torch.Tensor, torch.Tensor]]] = {}
        self._originals: dict[str, tuple[torch.nn.Parameter, torch.Tensor]] = {}
        #: Per patched file (by name), its layers that exist in the base and their weights, found
        #: once at load: walking the modules by name on every switch took ~40% of a patch switch.
        #: The Parameter objects stay valid when diffusers later wraps a module (``base_layer``).
        self._params: dict[str, list[tuple[LayerInfo, torch.nn.Parameter]]] = {}
        #: Whether every diffusers LoRA layer is enabled (True), disabled (False) or mixed (None).
        self._lora_enabled: bool | None = True
        self._counter = 0

    # -- loading ----------------------------------------------------------------------

    def load(self, path: Path, info: ArtifactInfo | None = None) -> LoadedLora:
        """Load ``path`` (once) by the route that applies all of its layers (``info``: its probe,
        when the caller has it already)."""
        path = Path(path)
        if path in self.loaded:
            self.loaded[path] = self.loaded.pop(path)  # most recently used last
            return self.loaded[path]
        info = info or probe(path)
        if info.kind not in ("lora", "lycoris"):
            raise UnsupportedError(f"not a LoRA or LyCORIS file (it is {info.kind})", path=path)
        check_family(info.base, self.family, path)
        if self.architecture is not None:
            info = probe(path, placed_on=self.architecture)
        self._counter += 1
        name = f"a{self._counter}_" + re.sub(r"\W", "_", path.stem)[:40]
        targets = self._targets(info)
        if not targets:
            raise IncompatibleError(f"none of its {count(len(info.layers), 'layers')} exists in the base", path=path)
        why = self._why_not_diffusers(info)
        if why is None:
            why = self._load_through_diffusers(path, name, len(targets))
        if why is None:
            loaded = LoadedLora(path, info, name, "diffusers", len(targets))
        else:
            loaded = LoadedLora(path, info, name, "patch", len(targets), why)
            self._params[name] = [(layer, _weight(module)) for layer, module in targets]
        self.loaded[path] = loaded
        return loaded

    def _targets(self, info: ArtifactInfo) -> list[tuple[LayerInfo, torch.nn.Module]]:
        """The file's layers that exist in the pipeline, with their modules."""
        found = [(layer, _module(self.pipe, layer.canonical)) for layer in info.layers if layer.canonical]
        return [(layer, module) for layer, module in found if module is not None]

    def _why_not_diffusers(self, info: ArtifactInfo) -> str | None:
        if self.patch_only:
            return "weight patching asked for"
        if info.format not in _DIFFUSERS_FORMATS:
            return f"diffusers does not load {info.format} files"
        other = sorted(set(info.algorithms) - _DIFFUSERS_ALGORITHMS)
        return f"diffusers does not load {', '.join(other)} layers" if other else None

    def _load_through_diffusers(self, path: Path, name: str, expected: int) -> str | None:
        # A load activates its file with fresh layers enabled, whatever disable_lora said before.
        self._lora_enabled = None
        try:
            self.pipe.load_lora_weights(str(path), adapter_name=name)
        # diffusers' converters assert what they assume of a file (Flux's kohya one: 3072 wide).
        except (ValueError, KeyError, RuntimeError, OSError, AssertionError) as exc:
            self._forget_adapter(name)
            message = str(exc).strip()
            return f"diffusers refused it ({message.splitlines()[0][:120] if message else type(exc).__name__})"
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

        Patched weights are always recomputed from the base's own tensors (kept aside), so
        weights never drift however often the mix changes.
        """
        active = [(lora, w) for lora, w in weights if w != 0]
        terms = self._terms([(lora, w) for lora, w in active if lora.route == "patch"])
        self._restore(keep=terms.keys())
        adapters = [(lora.name, w) for lora, w in active if lora.route == "diffusers"]
        # enable_lora/disable_lora walk every module (half of a switch), so they run only when the
        # state may differ; a load leaves it mixed (None), else a newly loaded LoRA would slip
        # into a scale-0 (base alone) render after an earlier disable.
        if adapters:
            if self._lora_enabled is not True:
                self.pipe.enable_lora()
                self._lora_enabled = True
            self.pipe.set_adapters([n for n, _ in adapters], adapter_weights=[w for _, w in adapters])
        elif self._lora_enabled is not False and any(lora.route == "diffusers" for lora in self.loaded.values()):
            self.pipe.disable_lora()
            self._lora_enabled = False
        self._patch(terms)
        self._evict(in_use={lora.path for lora, _ in weights})

    def _evict(self, in_use: set[Path]) -> None:
        """Unload the least recently used files beyond :attr:`keep` (never one of ``in_use``)."""
        for path in [p for p in self.loaded if p not in in_use][: max(0, len(self.loaded) - self.keep)]:
            lora = self.loaded.pop(path)
            if lora.route == "diffusers":
                self._forget_adapter(lora.name)
            self._params.pop(lora.name, None)
            self._factors.pop(lora.name, None)

    def restore(self) -> None:
        """Copy every patched weight back from the saved original (bit-exact)."""
        self._restore(keep=())

    def _restore(self, keep: Iterable[str]) -> None:
        # A layer the next mix patches again keeps its saved original and is not copied back:
        # it is overwritten from that original anyway (one copy per layer on a switch, not three).
        with torch.no_grad():
            for canonical in set(self._originals) - set(keep):
                param, original = self._originals.pop(canonical)
                param.copy_(original)

    def _terms(self, patched: list[tuple[LoadedLora, float]]) -> dict[str, tuple[torch.nn.Parameter, list[_Term]]]:
        """Per patched layer: its weight and the (file, layer, weight) terms to add to it."""
        terms: dict[str, tuple[torch.nn.Parameter, list[_Term]]] = {}
        for lora, weight in patched:
            for layer, param in self._params[lora.name]:
                assert layer.canonical is not None  # only layers matched to a module have a param
                terms.setdefault(layer.canonical, (param, []))[1].append((lora, layer, weight))
        return terms

    def _patch(self, terms: dict[str, tuple[torch.nn.Parameter, list[_Term]]]) -> None:
        with torch.no_grad():
            for canonical, (param, each) in terms.items():
                if canonical not in self._originals:
                    self._originals[canonical] = (param, param.detach().clone())
                original = self._originals[canonical][1]
                w0 = original.to(torch.float32)  # the base's own weight: DoRA deltas are taken on it
                # W + Σ wᵢ·BᵢAᵢ, one addmm_ per LoRA on the flattened weight (convs too). An fp32
                # weight is reset from its original and accumulated in place: a new full-size tensor
                # per layer and switch (page faults) made a full-size SD1.5 switch ~2.5x slower.
                # Other dtypes accumulate in a float32 copy and are cast once.
                fp32 = param.dtype == torch.float32
                target = param.detach().view(param.shape[0], -1) if fp32 else w0.flatten(1).clone()
                if fp32:
                    target.copy_(original.view(param.shape[0], -1))
                for lora, layer, weight in each:
                    if layer.algorithm == "dora":
                        target.add_(self._dora(lora, layer, w0).flatten(1), alpha=weight)
                    else:
                        b, a = self._lowrank(lora, layer, w0.device)
                        target.addmm_(b, a, alpha=weight)
                if not fp32:
                    param.copy_(target.view(param.shape))

    @staticmethod
    def _dora(lora: LoadedLora, layer: LayerInfo, w0: torch.Tensor) -> torch.Tensor:
        """ΔW of a DoRA layer on the base weight ``w0`` (float32), on its device."""
        with open_weights(lora.path) as src:
            return dora_delta(layer, src, w0.reshape(layer.shape).cpu()).to(w0.device)

    def _lowrank(self, lora: LoadedLora, layer: LayerInfo, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, A)`` in float32 with ΔW = B @ A, read once per file (every non-DoRA layer at once)."""
        cached = self._factors.setdefault(lora.name, {})
        assert layer.canonical is not None  # only layers matched to a module are patched
        if layer.canonical not in cached:
            with open_weights(lora.path) as src:
                for each, _ in self._params[lora.name]:
                    if each.algorithm != "dora":
                        assert each.canonical is not None  # as above
                        b, a = layer_factors(lora.info, each, src)
                        cached[each.canonical] = (b.to(device), a.to(device))
        return cached[layer.canonical]
