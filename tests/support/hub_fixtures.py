"""The ``fake_hub`` fixture: a started :class:`fakehub.FakeHub` the real huggingface_hub client can reach.

In-process code passes ``endpoint=fake_hub.url`` (HfApi, hf_hub_download and snapshot_download all take
it); a child process gets ``env={**os.environ, **fake_hub.env(token)}``.
"""

from __future__ import annotations

import pytest

from tests.support.fakehub import FakeHub


@pytest.fixture
def fake_hub(monkeypatch, tmp_path):
    """A fresh FakeHub (tokens: ``fakehub.ALICE_TOKEN`` -> alice, ``fakehub.BOB_TOKEN`` -> bob).

    While it runs, huggingface_hub in this process is online (the suite sets HF_HUB_OFFLINE=1, which
    blocks every request the client makes), never uploads through Xet, and finds no implicit token (no
    HF_TOKEN, no token file): a call without ``token=`` is anonymous.
    """
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-hf-token" / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "no-hf-token" / "stored_tokens"))
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    hub = FakeHub().start()
    try:
        yield hub
    finally:
        hub.stop()
