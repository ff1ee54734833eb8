"""The ``fake_civitai`` fixture: a started :class:`fakecivitai.FakeCivitai` (and its image host)
that loradex's client reaches through ``$CIVITAI_HOST``, with ``$CIVITAI_API_KEY`` set to
:data:`fakecivitai.API_KEY`."""

from __future__ import annotations

import pytest

from tests.support.fakecivitai import API_KEY, FakeCivitai, ImageHost


@pytest.fixture
def fake_civitai(monkeypatch):
    images = ImageHost().start()
    site = FakeCivitai(images).start()
    monkeypatch.setenv("CIVITAI_HOST", site.url)
    monkeypatch.setenv("CIVITAI_API_KEY", API_KEY)
    try:
        yield site
    finally:
        site.stop()
        images.stop()
