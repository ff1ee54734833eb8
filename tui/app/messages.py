"""What travels between the app's parts: the requests its dialogs answer with (a flow awaits
them, :mod:`.flows`), and the message a job's thread posts to its progress dialog (:mod:`.jobs`).
A job's result is not a message: the flow that started the job awaits it (``app.jobs.run``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.message import Message

from loradex.adapters.ops.options import BlockWeights
from loradex.adapters.progress import ProgressEvent

__all__ = ["EditRequest", "JobProgressed", "MixRequest", "PublishRequest", "QuickTestRequest", "TrayItem"]


class JobProgressed(Message):
    """A step of a running job (posted from its thread, at most ~20 a second)."""

    def __init__(self, event: ProgressEvent) -> None:
        super().__init__()
        self.event = event


@dataclass
class QuickTestRequest:
    """What the quick-test form asks for."""

    base: str
    prompt: str | None
    seeds: list[int]
    scales: list[float]
    steps: int
    size: tuple[int, int] | None
    out: Path
    weight: float = 1.0
    #: A ControlNet's control image, and whether canny runs on it first.
    control_image: Path | None = None
    canny: bool = False


@dataclass
class TrayItem:
    """A LoRA in the mix tray, at the weight it goes in with."""

    artifact_id: int
    name: str
    path: str
    weight: float


@dataclass
class MixRequest:
    """What the tray asks for: ``mix`` into ``output`` (``method`` concat, or svd to ``rank``; weighted
    by block), or ``bake`` into ``base`` (a checkpoint path)."""

    op: str
    output: Path
    base: str | None = None
    method: str = "concat"
    rank: int | None = None
    #: ``--block-weights`` of the mix, parsed (labels, a LoRA Block Weight preset or vector); None: all 1.
    block_weights: BlockWeights | None = None


@dataclass
class EditRequest:
    """What the edit dialog asks for: the tags (exactly these), the note, the preferred weight."""

    tags: list[str]
    notes: str
    weight: float | None


@dataclass(frozen=True)
class PublishRequest:
    """What the publish form asks for: the repo (owner/name) and the card's license (None: none)."""

    repo: str
    license: str | None
