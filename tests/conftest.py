"""Shared fixtures. The Hub is never reached: everything runs from the local zoo."""

from __future__ import annotations

import io
import logging
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402

from loradex.adapters.zoo import Zoo, build_zoo  # noqa: E402


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Zoo:
    """Tiny bases and adapters in every convention, built once per test session."""
    return build_zoo(tmp_path_factory.mktemp("zoo"))


@pytest.fixture
def diffusers_log():
    """Everything diffusers and PEFT log while the test runs."""
    import diffusers

    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    loggers = [diffusers.utils.logging.get_logger("diffusers"), logging.getLogger("peft")]
    for logger in loggers:
        logger.addHandler(handler)
    yield buf
    for logger in loggers:
        logger.removeHandler(handler)
