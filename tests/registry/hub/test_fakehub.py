"""The fake Hub (tests/support/fakehub.py) is faithful enough for the real huggingface_hub client.

Everything goes over HTTP to the server: no HfApi method is patched. These are the guarantees the
``loradex publish`` / ``loradex pull`` tests build on.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, HfUriError, RepositoryNotFoundError
from safetensors.numpy import save

from tests.support.fakehub import ALICE_TOKEN, BOB_TOKEN, GITATTRIBUTES, git_blob_sha1

README = (
    b"---\nlicense: openrail\ntags:\n- lora\n- stable-diffusion\nbase_model: runwayml/stable-diffusion-v1-5\n"
    b"---\n# A LoRA\n"
)
META = b'{"rank": 4, "alpha": 4.0}\n'


@pytest.fixture(scope="module")
def weights() -> bytes:
    """A real ~1.5 MB safetensors file (an LFS file on the Hub)."""
    rng = np.random.default_rng(0)
    return save(
        {"lora_unet_down.lora_down.weight": rng.standard_normal((384, 1024), dtype=np.float32)},
        metadata={"ss_network_dim": "4"},
    )


def _ops(weights: bytes) -> list[CommitOperationAdd]:
    return [
        CommitOperationAdd("README.md", README),
        CommitOperationAdd("adapter.json", META),
        CommitOperationAdd("lora.safetensors", weights),
    ]


@pytest.fixture
def alice(fake_hub) -> HfApi:
    return HfApi(endpoint=fake_hub.url, token=ALICE_TOKEN)


@pytest.fixture
def published(fake_hub, alice, weights) -> str:
    """alice/my-lora with the README, the JSON and the weights in one commit; returns that commit's oid."""
    alice.create_repo("alice/my-lora", exist_ok=True)
    return alice.create_commit("alice/my-lora", _ops(weights), commit_message="Publish my-lora").oid


def test_fixture_is_online_and_quiet(fake_hub):
    from huggingface_hub import constants

    assert fake_hub.url.startswith("http://127.0.0.1:")
    assert not constants.is_offline_mode() and constants.HF_HUB_DISABLE_XET
    assert fake_hub.requests == []  # a dry run asserts exactly this


def test_create_commit_stores_byte_identical_files(fake_hub, alice, weights):
    url = alice.create_repo("alice/my-lora", exist_ok=True, private=True)
    assert url.repo_id == "alice/my-lora" and url.endpoint == fake_hub.url
    assert fake_hub.repos["alice/my-lora"]["private"]
    assert alice.create_repo("alice/my-lora", exist_ok=True).repo_id == "alice/my-lora"  # 409 swallowed

    info = alice.create_commit("alice/my-lora", _ops(weights), commit_message="Publish my-lora")

    assert len(fake_hub.commit_posts) == 1
    assert info.oid == fake_hub.head("alice/my-lora")
    assert info.commit_url == f"{fake_hub.url}/alice/my-lora/commit/{info.oid}"
    assert fake_hub.files("alice/my-lora") == {
        ".gitattributes": GITATTRIBUTES,
        "README.md": README,
        "adapter.json": META,
        "lora.safetensors": weights,
    }
    commit = fake_hub.commits("alice/my-lora")[-1]
    assert commit["message"] == "Publish my-lora"
    assert commit["lfs"] == {"lora.safetensors": hashlib.sha256(weights).hexdigest()}
    # the weights went through the LFS batch API and one PUT, not inside the commit payload
    assert [r.body_len for r in fake_hub.requests_matching("PUT", "/__lfs/")] == [len(weights)]
    assert fake_hub.commit_posts[0].body_len < len(weights)
    assert fake_hub.requests_matching("POST", "/api/validate-yaml")


def test_identical_recommit_makes_no_commit(fake_hub, alice, weights, published):
    fake_hub.reset_records()

    again = alice.create_commit("alice/my-lora", _ops(weights), commit_message="Publish my-lora again")

    assert again.oid == published == fake_hub.head("alice/my-lora")
    assert fake_hub.commit_posts == []
    assert fake_hub.requests_matching("PUT") == []  # the batch API said the blob is already there
    assert len(fake_hub.commits("alice/my-lora")) == 2  # .gitattributes + the publish

    changed = alice.create_commit(
        "alice/my-lora", [CommitOperationAdd("adapter.json", b"{}")], commit_message="Change the metadata"
    )
    assert changed.oid != published and fake_hub.files("alice/my-lora")["adapter.json"] == b"{}"
    assert fake_hub.files("alice/my-lora", revision=published)["adapter.json"] == META
    history = alice.list_repo_commits("alice/my-lora")
    assert [c.commit_id for c in history] == [c["oid"] for c in reversed(fake_hub.commits("alice/my-lora"))]
    assert [c.title for c in history] == ["Change the metadata", "Publish my-lora", "initial commit"]
    assert history[0].authors == ["alice"]


def test_model_info_and_tree(fake_hub, alice, weights, published):
    info = alice.model_info("alice/my-lora", files_metadata=True)

    assert info.sha == published and info.private is False and info.author == "alice"
    siblings = {s.rfilename: s for s in info.siblings}
    assert set(siblings) == {".gitattributes", "README.md", "adapter.json", "lora.safetensors"}
    lfs = siblings["lora.safetensors"].lfs
    assert lfs.sha256 == hashlib.sha256(weights).hexdigest() and lfs.size == len(weights)
    assert siblings["lora.safetensors"].size == len(weights)
    assert siblings["adapter.json"].lfs is None and siblings["adapter.json"].blob_id == git_blob_sha1(META)
    assert info.card_data.license == "openrail" and "lora" in info.tags

    assert alice.repo_info("alice/my-lora", revision=published).sha == published
    assert sorted(alice.list_repo_files("alice/my-lora")) == sorted(siblings)
    tree = {f.path: f for f in alice.list_repo_tree("alice/my-lora", recursive=True)}
    assert tree["lora.safetensors"].lfs.sha256 == lfs.sha256


def test_hf_hub_download_caches(fake_hub, published, weights, tmp_path):
    first = hf_hub_download("alice/my-lora", "lora.safetensors", cache_dir=tmp_path, endpoint=fake_hub.url)

    assert Path(first).read_bytes() == weights
    assert fake_hub.bodies_served == 1 and fake_hub.bytes_served == len(weights)
    assert f"snapshots/{published}/" in Path(first).as_posix()
    fake_hub.reset_records()

    second = hf_hub_download("alice/my-lora", "lora.safetensors", cache_dir=tmp_path, endpoint=fake_hub.url)

    assert second == first  # same commit, same snapshot path
    assert fake_hub.bodies_served == 0
    assert [r.method for r in fake_hub.requests] == ["HEAD"]
    readme = hf_hub_download("alice/my-lora", "README.md", cache_dir=tmp_path, endpoint=fake_hub.url)
    assert Path(readme).read_bytes() == README  # a regular (non-LFS) file


def test_snapshot_download_pins_a_commit(fake_hub, alice, published, weights, tmp_path):
    alice.create_commit("alice/my-lora", [CommitOperationAdd("adapter.json", b"{}")], commit_message="Change")

    folder = Path(snapshot_download("alice/my-lora", revision=published, cache_dir=tmp_path, endpoint=fake_hub.url))

    assert folder.name == published
    assert (folder / "lora.safetensors").read_bytes() == weights
    assert (folder / "adapter.json").read_bytes() == META
    latest = Path(snapshot_download("alice/my-lora", cache_dir=tmp_path, endpoint=fake_hub.url))
    assert latest.name == fake_hub.head("alice/my-lora") and (latest / "adapter.json").read_bytes() == b"{}"


def test_add_repo_seeds_lfs_like_the_hub(fake_hub, tmp_path):
    head = fake_hub.add_repo(
        "bob/styles", {"style.safetensors": b"\0" * 64, "preview.png": b"\x89PNG", "notes/readme.txt": "hello"}
    )

    info = HfApi(endpoint=fake_hub.url).model_info("bob/styles", files_metadata=True)  # anonymous read
    lfs = {s.rfilename: s.lfs is not None for s in info.siblings}
    assert info.sha == head
    assert lfs == {".gitattributes": False, "notes/readme.txt": False, "preview.png": True, "style.safetensors": True}
    path = hf_hub_download("bob/styles", "notes/readme.txt", cache_dir=tmp_path, endpoint=fake_hub.url)
    assert Path(path).read_text() == "hello"


def test_writes_need_a_token(fake_hub, weights):
    anonymous = HfApi(endpoint=fake_hub.url)  # the fixture leaves no implicit token
    with pytest.raises(HfHubHTTPError) as err:
        anonymous.create_repo("alice/my-lora")
    assert err.value.response.status_code == 401

    fake_hub.add_repo("alice/my-lora")
    with pytest.raises(HfHubHTTPError) as err:
        anonymous.create_commit("alice/my-lora", _ops(weights), commit_message="x")
    assert err.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as err:
        HfApi(endpoint=fake_hub.url, token="hf_wrong").whoami()
    assert err.value.response.status_code == 401
    assert fake_hub.commit_posts == [] and len(fake_hub.commits("alice/my-lora")) == 1
    assert HfApi(endpoint=fake_hub.url, token=BOB_TOKEN).whoami()["name"] == "bob"


def test_another_users_repo_is_forbidden(fake_hub, alice, weights):
    fake_hub.add_repo("bob/their-lora", {"a.txt": "bob's"})
    with pytest.raises(HfHubHTTPError) as err:
        alice.create_repo("bob/new-lora")
    assert err.value.response.status_code == 403
    # exist_ok=True on someone else's existing repo: the client swallows the 403 once repo_info finds the repo,
    # then builds RepoUrl(f"{endpoint}/{repo_id}") without endpoint=, which huggingface_hub 2.4 rejects for
    # any endpoint but huggingface.co. Against the fake Hub that call therefore raises HfUriError.
    with pytest.raises(HfUriError):
        alice.create_repo("bob/their-lora", exist_ok=True)

    with pytest.raises(HfHubHTTPError) as err:
        alice.create_commit("bob/their-lora", _ops(weights), commit_message="x")

    assert err.value.response.status_code == 403
    assert fake_hub.files("bob/their-lora")["a.txt"] == b"bob's" and fake_hub.commit_posts == []


def test_missing_repo_and_file(fake_hub, alice, published, tmp_path):
    with pytest.raises(RepositoryNotFoundError):
        alice.model_info("alice/nope")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("alice/nope", "lora.safetensors", cache_dir=tmp_path, endpoint=fake_hub.url)
    with pytest.raises(EntryNotFoundError) as err:
        hf_hub_download("alice/my-lora", "nope.safetensors", cache_dir=tmp_path, endpoint=fake_hub.url)
    assert isinstance(err.value, HfHubHTTPError) and err.value.response.status_code == 404
    # a private repo does not exist for others
    fake_hub.add_repo("bob/secret", {"a.txt": "x"}, private=True)
    with pytest.raises(RepositoryNotFoundError):
        alice.model_info("bob/secret")
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=fake_hub.url).model_info("bob/secret")
    assert HfApi(endpoint=fake_hub.url, token=BOB_TOKEN).model_info("bob/secret").private


def test_rate_limited(fake_hub, alice, published):
    fake_hub.rate_limited = True
    with pytest.raises(HfHubHTTPError) as err:
        alice.model_info("alice/my-lora")
    assert err.value.response.status_code == 429

    fake_hub.rate_limited = 1  # only the next request
    with pytest.raises(HfHubHTTPError):
        alice.model_info("alice/my-lora")
    assert alice.model_info("alice/my-lora").sha == published


def test_child_process_reaches_the_hub_through_env(fake_hub, published, weights, tmp_path):
    code = (
        "import sys; from huggingface_hub import hf_hub_download; "
        "print(hf_hub_download('alice/my-lora', 'lora.safetensors', cache_dir=sys.argv[1]))"
    )
    env = {**os.environ, **fake_hub.env(ALICE_TOKEN)}
    fake_hub.reset_records()

    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True, timeout=60
    )

    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()).read_bytes() == weights
    assert all(r.headers.get("authorization") == f"Bearer {ALICE_TOKEN}" for r in fake_hub.requests)
