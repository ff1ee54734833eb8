"""Samplers by the names A1111 and Civitai users know, as diffusers schedulers.

A sampler is a scheduler class plus the keyword arguments given to
``<class>.from_config(base_scheduler_config, **overrides)``: that pair is what a PNG records,
so plain diffusers rebuilds the same scheduler from the base's own config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loradex.adapters.errors import UnsupportedError


@dataclass(frozen=True)
class Sampler:
    """One named sampler.

    Attributes:
        name: the name on the command line (lower case, as ``--sampler`` takes it).
        a1111: A1111's ``Sampler`` and ``Schedule type`` infotext fields.
        cls: the diffusers scheduler class name.
        overrides: keyword arguments for ``from_config``.
    """

    name: str
    a1111: tuple[str, str | None]
    cls: str
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The name as A1111 shows it: ``DPM++ 2M Karras``, ``Euler a``."""
        return " ".join(part for part in self.a1111 if part)

    def scheduler(self, base_config: Any) -> Any:
        """The scheduler for a base whose scheduler config is ``base_config``."""
        import diffusers

        return getattr(diffusers, self.cls).from_config(base_config, **self.overrides)

    def __json__(self) -> dict[str, Any]:
        """The ``scheduler`` field of a PNG's ``loradex`` record."""
        return {"class": self.cls, "overrides": dict(self.overrides)}


_KARRAS = {"use_karras_sigmas": True}
SAMPLERS: dict[str, Sampler] = {
    s.name: s
    for s in (
        Sampler("dpm++ 2m karras", ("DPM++ 2M", "Karras"), "DPMSolverMultistepScheduler", _KARRAS),
        Sampler("dpm++ 2m", ("DPM++ 2M", None), "DPMSolverMultistepScheduler"),
        Sampler(
            "dpm++ 2m sde karras",
            ("DPM++ 2M SDE", "Karras"),
            "DPMSolverMultistepScheduler",
            {"algorithm_type": "sde-dpmsolver++", **_KARRAS},
        ),
        Sampler("euler", ("Euler", None), "EulerDiscreteScheduler"),
        Sampler("euler a", ("Euler a", None), "EulerAncestralDiscreteScheduler"),
        Sampler("heun", ("Heun", None), "HeunDiscreteScheduler"),
        Sampler("lms", ("LMS", None), "LMSDiscreteScheduler"),
        Sampler("ddim", ("DDIM", None), "DDIMScheduler"),
        Sampler("unipc", ("UniPC", None), "UniPCMultistepScheduler"),
    )
}
#: A1111's default sampler and step count since 1.6.
DEFAULT_SAMPLER = "dpm++ 2m karras"
DEFAULT_STEPS = 20
#: The flow-matching DiTs (SD3, FLUX.1) sample with the scheduler their pipelines ship; Forge calls
#: it Euler with the Simple schedule. A1111's samplers assume a noise-prediction model.
FLOW_SAMPLERS: dict[str, Sampler] = {
    s.name: s for s in (Sampler("euler", ("Euler", "Simple"), "FlowMatchEulerDiscreteScheduler"),)
}
FLOW_DEFAULT_SAMPLER = "euler"


def sampler(name: str | None = None, *, flow: bool = False) -> Sampler:
    """The sampler a user names (case and repeated spaces ignored; None: the default) for a base
    that denoises (A1111's samplers) or, with ``flow``, one that follows a flow (SD3, FLUX.1)."""
    table, default = (FLOW_SAMPLERS, FLOW_DEFAULT_SAMPLER) if flow else (SAMPLERS, DEFAULT_SAMPLER)
    key = " ".join((name or default).lower().split())
    try:
        return table[key]
    except KeyError:
        bases = "SD3 and FLUX.1 bases" if flow else "SD1.x, SD2.x and SDXL bases"
        raise UnsupportedError(f"unknown sampler {name!r} for {bases}; choose one of: {', '.join(table)}") from None


def known_sampler(name: str) -> None:
    """Refuse a sampler no base takes, before anything loads (which bases take it is known later)."""
    key = " ".join(name.lower().split())
    if key not in SAMPLERS and key not in FLOW_SAMPLERS:
        sampler(name)
