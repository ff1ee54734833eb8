"""Keeping the field's libraries quiet where loradex speaks for itself.

diffusers, transformers and huggingface_hub print advisory warnings and tqdm bars of their own
(while the demo zoo is saved, while a pipeline loads); a command that reports its own progress
turns them off so that what the user reads is loradex's lines only.
"""

from __future__ import annotations

import os
import warnings


def quiet() -> None:
    """Silence library warnings and progress bars for the rest of the process (call before the
    libraries are imported: some read these settings once, at import)."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    warnings.filterwarnings("ignore", module=r"(diffusers|transformers|huggingface_hub|peft|torch)(\.|$)")
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    for logging in (diffusers_logging, transformers_logging):
        logging.set_verbosity_error()
        logging.disable_progress_bar()
