"""`loradex publish` and `loradex pull` against a local fake Hub that the real huggingface_hub client
talks to over HTTP (tests/support/fakehub.py); the CLI runs in a child process, as HF_ENDPOINT is read when
huggingface_hub is imported. What the server received is the evidence."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import save_file

from tests.support.fakehub import ALICE_TOKEN, BOB_TOKEN
from tests.support.ops_cli import cli

_CLI = "import sys; from loradex.tui.entry import main; sys.argv = ['loradex', *sys.argv[1:]]; main()"


def loradex(
    hub, *args, token: str | None = ALICE_TOKEN, catalog: str, offline: bool = False, extra_env: dict | None = None
):
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    env.update(hub.env(token) if hub is not None else {})
    env["HF_HOME"] = str(Path(catalog).parent / "hf-home")  # no login cache, a cache of this test's own
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-c", _CLI, "--catalog", catalog, *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def front_matter(card: str) -> dict:
    m = re.match(r"^---\n(.*?)\n---\n", card, re.S)
    assert m, card[:200]
    return yaml.safe_load(m[1])


def one_line(run, *words: str) -> str:
    assert run.returncode == 1, run.stdout + run.stderr
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith("error: ") and all(w in line for w in words), line
    return line


@pytest.fixture
def library(zoo, tmp_path) -> tuple[str, Path]:
    """A catalog of copies of a few zoo adapters, a mix of two of them, and quick-test previews of the mix."""
    lib = tmp_path / "lib"
    lib.mkdir()
    for name in ("sd1-kohya-lora", "sd1-kohya-locon", "sd1-ti-a1111"):
        shutil.copy2(zoo[name].path, lib / zoo[name].path.name)
    shutil.copytree(zoo["sd1-controlnet-diffusers"].path, lib / "canny-cn")
    url = str(tmp_path / "catalog.db")
    assert cli("scan", lib, catalog=url).exit_code == 0
    mixed = lib / "mixed.safetensors"
    assert cli("mix", "sd1-kohya-lora:0.7", "sd1-kohya-locon:-0.3", "-o", mixed, catalog=url).exit_code == 0
    result = cli(
        "try",
        "mixed",
        "--base",
        zoo["sd1-diffusers"].path,
        "--prompt",
        "an orange cat",
        "--seeds",
        "1",
        "--scales",
        "0,1",
        "--steps",
        "2",
        "--size",
        "32x32",
        "-o",
        tmp_path / "grid",
        catalog=url,
    )
    assert result.exit_code == 0, result.output
    return url, mixed


# ---------------------------------------------------------------------------------------
# publish


def test_publish_sends_weights_card_previews_and_recipe_in_one_commit(fake_hub, library):
    url, mixed = library
    run = loradex(
        fake_hub, "publish", "mixed", "--repo", "alice/mixed", "--license", "openrail++", "--json", catalog=url
    )
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["changed"] is True and doc["commit"] == fake_hub.head("alice/mixed")
    assert len(fake_hub.commit_posts) == 1
    files = fake_hub.files("alice/mixed")
    assert files["mixed.safetensors"] == mixed.read_bytes()  # byte-identical
    assert "recipe.toml" in files and any(p.startswith("images/") for p in files)
    card = files["README.md"].decode()
    meta = front_matter(card)
    assert meta["base_model"] == "stable-diffusion-v1-5/stable-diffusion-v1-5" and meta["license"] == "openrail++"
    assert {"lora", "text-to-image", "stable-diffusion", "diffusers", "template:sd-lora"} <= set(meta["tags"])
    (widget,) = meta["widget"]  # the scale-1 image: the scale-0 one is the base alone
    assert widget["text"] == "an orange cat" and widget["output"]["url"] in files
    assert "0.7" in card and "-0.3" in card and "sd1-kohya-lora.safetensors" in card
    assert doc["files"] and doc["url"].endswith("/alice/mixed")


def test_the_gallery_holds_only_images_of_this_adapter_alone_on_the_card_s_base_family(
    fake_hub, library, zoo, tmp_path
):
    import shutil

    from loradex.registry.queries import orm
    from loradex.registry.store.db import open_catalog
    from loradex.registry.store.db import session as open_session
    from loradex.registry.store.models import Preview

    url, _ = library
    both = cli(
        "try",
        "mixed:3.2",
        "sd1-kohya-lora:-2",
        "--base",
        zoo["sd1-diffusers"].path,
        "--prompt",
        "two cats",
        "--seeds",
        "1",
        "--scales",
        "1",
        "--steps",
        "2",
        "--size",
        "32x32",
        "-o",
        tmp_path / "both",
        catalog=url,
    )
    assert both.exit_code == 0, both.output
    engine = open_catalog(url)
    with open_session(engine) as session:  # an image of the mix alone, but rendered on an SDXL base
        mixed = orm.resolve(session, "mixed")
        other = tmp_path / "sdxl-cat.png"
        shutil.copy(tmp_path / "grid" / "001-seed1-scale1.png", other)
        session.add(
            Preview(
                artifact_id=mixed.id,
                path=str(other),
                prompt="an sdxl cat",
                seed=1,
                scale=1.0,
                base="sdxl.safetensors",
                base_family="sdxl",
                source="quicktest",
                adapters=[
                    {"artifact_id": mixed.id, "name": "mixed", "kind": "lora", "sha256": mixed.sha256, "weight": 1.0}
                ],
            )
        )
        session.commit()
    engine.dispose()

    run = loradex(fake_hub, "publish", "mixed", "--repo", "alice/mixed", catalog=url)
    assert run.returncode == 0, run.stderr
    files = fake_hub.files("alice/mixed")
    (widget,) = front_matter(files["README.md"].decode())["widget"]
    assert widget["text"] == "an orange cat"  # the mix alone at scale 1, on the tiny SD1 base
    assert files[widget["output"]["url"]] == (tmp_path / "grid" / "001-seed1-scale1.png").read_bytes()
    assert [p for p in files if p.startswith("images/")] == [widget["output"]["url"]]

    run = loradex(fake_hub, "publish", "sd1-kohya-lora", "--repo", "alice/lora", catalog=url)
    assert run.returncode == 0, run.stderr  # its one preview shows the mix at 3.2 as much as this LoRA at -2
    files = fake_hub.files("alice/lora")
    assert "widget" not in front_matter(files["README.md"].decode())
    assert not [p for p in files if p.startswith("images/")]


def test_the_publication_is_recorded_and_shown(fake_hub, library):
    url, _ = library
    run = loradex(fake_hub, "publish", "mixed", "--repo", "alice/mixed", catalog=url)
    assert run.returncode == 0, run.stderr
    shown = cli("show", "mixed", catalog=url).stdout
    assert f"published: alice/mixed @ {fake_hub.head('alice/mixed')}" in shown


def test_publishing_unchanged_content_again_makes_no_commit(fake_hub, library):
    url, _ = library
    assert loradex(fake_hub, "publish", "mixed", "--repo", "alice/mixed", catalog=url).returncode == 0
    head, commits = fake_hub.head("alice/mixed"), len(fake_hub.commits("alice/mixed"))
    again = loradex(fake_hub, "publish", "mixed", "--repo", "alice/mixed", "--json", catalog=url)
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert doc["changed"] is False and doc["commit"] == head
    assert len(fake_hub.commits("alice/mixed")) == commits
    human = loradex(fake_hub, "publish", "mixed", "--repo", "alice/mixed", catalog=url)
    assert human.stdout.startswith("no changes")


def test_an_a1111_embedding_is_published_as_safetensors_that_diffusers_loads(fake_hub, library, zoo, tmp_path):
    import torch
    from diffusers import StableDiffusionPipeline
    from huggingface_hub import hf_hub_download

    from loradex.adapters.io.weights import open_weights

    url, _ = library
    run = loradex(fake_hub, "publish", "sd1-ti-a1111", "--repo", "alice/ti", catalog=url)
    assert run.returncode == 0, run.stderr
    files = fake_hub.files("alice/ti")
    assert "sd1-ti-a1111.safetensors" in files and not any(p.endswith(".pt") for p in files)
    path = hf_hub_download("alice/ti", "sd1-ti-a1111.safetensors", endpoint=fake_hub.url, cache_dir=tmp_path / "c")
    pipe = StableDiffusionPipeline.from_pretrained(zoo["sd1-diffusers"].path, torch_dtype=torch.float32)
    pipe.load_textual_inversion(path, token="<ti>")
    with open_weights(zoo["sd1-ti-a1111"].path) as src:
        (key,) = [k for k in src.keys() if k.startswith("string_to_param.")]
        vectors = src.get(key).float().reshape(-1, 768)
    ids = pipe.tokenizer.convert_tokens_to_ids(["<ti>"] + [f"<ti>_{i}" for i in range(1, len(vectors))])
    assert torch.equal(pipe.text_encoder.get_input_embeddings().weight[ids], vectors)
    assert "textual-inversion" in front_matter(files["README.md"].decode())["tags"]


@pytest.mark.parametrize("ref", ["sd1-ti-a1111", "canny-cn", "mixed"])
def test_every_hash_on_the_card_is_the_hash_of_the_file_the_hub_received(fake_hub, library, zoo, ref):
    import hashlib

    url, _ = library
    run = loradex(fake_hub, "publish", ref, "--repo", f"alice/{ref}", catalog=url)
    assert run.returncode == 0, run.stderr
    files = fake_hub.files(f"alice/{ref}")
    card = files["README.md"].decode()
    listed = re.findall(r"^- `([^`]+)`: sha256 `([0-9a-f]{64})` \(AutoV2 `([0-9a-f]{10})`\)$", card, re.M)
    assert listed, card
    for name, sha256, autov2 in listed:
        assert hashlib.sha256(files[name]).hexdigest() == sha256 and sha256[:10] == autov2
    if ref == "sd1-ti-a1111":  # the pickle's own hash (what the catalog holds) is on no line of the card
        assert hashlib.sha256(zoo[ref].path.read_bytes()).hexdigest() not in card


def test_a_controlnet_folder_is_published_file_by_file(fake_hub, library):
    url, _ = library
    run = loradex(fake_hub, "publish", "canny-cn", "--repo", "alice/cn", catalog=url)
    assert run.returncode == 0, run.stderr
    files = fake_hub.files("alice/cn")
    folder = Path(url).parent / "lib" / "canny-cn"
    for local in folder.iterdir():
        assert files[local.name] == local.read_bytes()
    assert "controlnet" in front_matter(files["README.md"].decode())["tags"]


def test_a_dry_run_prints_the_card_and_files_and_sends_nothing(fake_hub, library):
    url, _ = library
    run = loradex(fake_hub, "publish", "mixed", "--repo", "alice/mixed", "--dry-run", catalog=url)
    assert run.returncode == 0, run.stderr
    assert fake_hub.requests == []
    assert run.stdout.startswith("---\n") and "base_model:" in run.stdout
    assert re.search(r"^  mixed\.safetensors  [\d.]+ [KM]B$", run.stdout, re.M)


def test_a_dry_run_works_with_the_client_offline(library):
    url, _ = library
    run = loradex(
        None,
        "publish",
        "mixed",
        "--repo",
        "alice/mixed",
        "--dry-run",
        "--json",
        catalog=url,
        offline=True,
        extra_env={"HF_ENDPOINT": "http://127.0.0.1:9"},
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["dry_run"] is True


def test_the_token_appears_in_no_catalog_card_or_output(fake_hub, library):
    url, _ = library
    runs = [
        loradex(fake_hub, "publish", "mixed", "--repo", "alice/mixed", "--json", catalog=url),
        loradex(fake_hub, "pull", "alice/mixed", "--json", catalog=url),
        loradex(fake_hub, "publish", "mixed", "--repo", "bob/taken", catalog=url),
    ]  # an error, too
    for run in runs:
        assert ALICE_TOKEN not in run.stdout + run.stderr
    for f in Path(url).parent.glob("catalog.db*"):
        assert ALICE_TOKEN.encode() not in f.read_bytes()
    assert ALICE_TOKEN.encode() not in fake_hub.files("alice/mixed")["README.md"]


# ---------------------------------------------------------------------------------------
# errors: one line each, nothing recorded


def _publications(url: str) -> list:
    return json.loads(cli("show", "mixed", "--json", catalog=url).stdout)["publications"]


def test_publishing_without_a_token_is_one_line_and_records_nothing(fake_hub, library):
    url, _ = library
    one_line(
        loradex(fake_hub, "publish", "mixed", "--repo", "alice/mixed", token=None, catalog=url), "alice/mixed", "token"
    )
    assert fake_hub.commit_posts == [] and _publications(url) == []


def test_publishing_to_someone_else_s_repo_is_one_line(fake_hub, library):
    url, _ = library
    fake_hub.add_repo("bob/taken", {"README.md": "# bob's"})
    one_line(loradex(fake_hub, "publish", "mixed", "--repo", "bob/taken", catalog=url), "bob/taken", "write access")
    assert _publications(url) == []


def test_a_rate_limited_hub_is_one_line(fake_hub, library):
    url, _ = library
    fake_hub.rate_limited = True
    one_line(loradex(fake_hub, "publish", "mixed", "--repo", "alice/mixed", catalog=url), "alice/mixed", "rate limit")


def test_an_unreachable_hub_is_one_line(library):
    url, _ = library
    run = loradex(
        None,
        "publish",
        "mixed",
        "--repo",
        "alice/mixed",
        catalog=url,
        extra_env={"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "0", "HF_TOKEN": ALICE_TOKEN},
    )
    one_line(run, "alice/mixed", "not reachable")


def usage_error(run) -> str:
    assert run.returncode == 2, run.stdout + run.stderr
    return " ".join(run.stderr.split())


@pytest.mark.parametrize(
    "given, near",
    [
        ("foo", "apache-2.0"),
        ("apache2", "apache-2.0"),
        ("openrail+", "openrail++"),
        ("creativeml-openrail", "creativeml-openrail-m"),
        ("MIT", "mit"),
    ],
)
def test_a_license_the_hub_does_not_list_is_a_usage_error_before_any_request(fake_hub, library, given, near):
    url, _ = library
    message = usage_error(
        loradex(fake_hub, "publish", "mixed", "--repo", "alice/mixed", "--license", given, catalog=url)
    )
    assert f"license '{given}' is not a Hub license id" in message and near in message
    assert fake_hub.requests == [] and _publications(url) == []


def test_the_library_refuses_an_unlisted_license_before_any_request(fake_hub, library):
    from loradex.registry.hub.licenses import LicenseError
    from loradex.registry.hub.publish import publish
    from loradex.registry.store.db import open_catalog

    url, _ = library
    engine = open_catalog(url)
    with pytest.raises(LicenseError, match="openrail"):
        publish(engine, "mixed", "alice/mixed", license="open-rail", endpoint=fake_hub.url, token=ALICE_TOKEN)
    engine.dispose()
    assert fake_hub.requests == []


def test_every_listed_hub_license_is_accepted():
    from loradex.registry.hub.licenses import check_license, hub_licenses

    ids = hub_licenses()
    assert {
        "apache-2.0",
        "mit",
        "openrail",
        "openrail++",
        "creativeml-openrail-m",
        "bigscience-openrail-m",
        "cc-by-4.0",
        "cc-by-nc-4.0",
        "cc0-1.0",
        "llama2",
        "gemma",
        "unknown",
        "other",
    } <= set(ids)
    assert all(check_license(i) == i for i in ids)  # the wheel carries the list: test_quiet_setup.py


# ---------------------------------------------------------------------------------------
# pull


_CARD = """---
base_model: stabilityai/stable-diffusion-xl-base-1.0
instance_prompt: ohwx dog
tags: [lora]
---
# a dog
"""


@pytest.fixture
def published(fake_hub, zoo) -> tuple[str, bytes]:
    """bob/dog on the Hub: an SDXL slider LoRA (no trigger words of its own) and a card naming them."""
    data = zoo["sdxl-kohya-slider"].path.read_bytes()
    commit = fake_hub.add_repo("bob/dog", {"dog.safetensors": data, "README.md": _CARD})
    return commit, data


def _listed(url: str) -> list[dict]:
    return json.loads(cli("list", "--json", catalog=url).stdout)["artifacts"]


def test_a_pulled_file_is_byte_identical_and_listed_with_its_provenance(fake_hub, published, tmp_path):
    commit, data = published
    url = str(tmp_path / "catalog.db")
    run = loradex(fake_hub, "pull", "bob/dog", "--json", token=BOB_TOKEN, catalog=url)
    assert run.returncode == 0, run.stderr
    (pulled,) = json.loads(run.stdout)["files"]
    assert Path(pulled["path"]).read_bytes() == data and pulled["status"] == "new"
    (row,) = _listed(url)
    assert row["source"] == f"hub:bob/dog@{commit}" and re.fullmatch(r"hub:bob/dog@[0-9a-f]{40}", row["source"])
    shown = json.loads(cli("show", str(row["id"]), "--json", catalog=url).stdout)
    assert shown["trigger_words"][:1] == ["ohwx dog"]  # from the card: the file names none
    assert [a["id"] for a in json.loads(cli("list", "--text", "ohwx", "--json", catalog=url).stdout)["artifacts"]] == [
        row["id"]
    ]


def test_a_second_pull_of_the_same_commit_transfers_no_file_and_records_nothing_new(fake_hub, published, tmp_path):
    url = str(tmp_path / "catalog.db")
    assert loradex(fake_hub, "pull", "bob/dog", catalog=url).returncode == 0
    before = _listed(url)
    fake_hub.reset_records()
    again = loradex(fake_hub, "pull", "bob/dog", "--json", catalog=url)
    assert again.returncode == 0, again.stderr
    assert fake_hub.bodies_served == 0
    assert [f["status"] for f in json.loads(again.stdout)["files"]] == ["known"]
    assert _listed(url) == before


def test_pulling_a_file_the_catalog_holds_adds_provenance_instead_of_a_row(fake_hub, published, zoo, tmp_path):
    commit, _ = published
    url = str(tmp_path / "catalog.db")
    local = tmp_path / "mine" / "slider.safetensors"
    local.parent.mkdir()
    shutil.copy2(zoo["sdxl-kohya-slider"].path, local)
    assert cli("scan", local.parent, catalog=url).exit_code == 0
    run = loradex(fake_hub, "pull", "bob/dog", "--json", catalog=url)
    assert run.returncode == 0, run.stderr
    assert [f["status"] for f in json.loads(run.stdout)["files"]] == ["provenance"]
    (row,) = _listed(url)
    assert row["path"] == str(local) and row["source"] == f"hub:bob/dog@{commit}"


def test_pulling_a_repo_that_does_not_exist_is_one_line(fake_hub, tmp_path):
    one_line(loradex(fake_hub, "pull", "bob/nothing", catalog=str(tmp_path / "c.db")), "bob/nothing", "no such repo")


def test_pulling_a_file_that_does_not_exist_is_one_line(fake_hub, published, tmp_path):
    one_line(
        loradex(fake_hub, "pull", "bob/dog", "--file", "cat.safetensors", catalog=str(tmp_path / "c.db")),
        "bob/dog",
        "cat.safetensors",
    )


@pytest.mark.parametrize("prompt", ["[ohwx, dog]", "{word: ohwx}", "12"])
def test_a_pull_whose_card_does_not_parse_records_nothing(fake_hub, zoo, tmp_path, prompt):
    card = _CARD.replace("instance_prompt: ohwx dog", f"instance_prompt: {prompt}")
    fake_hub.add_repo("bob/odd", {"dog.safetensors": zoo["sdxl-kohya-slider"].path.read_bytes(), "README.md": card})
    url = str(tmp_path / "catalog.db")
    run = loradex(fake_hub, "pull", "bob/odd", catalog=url)
    one_line(run, "bob/odd", "instance_prompt")
    assert not Path(url).exists() or _listed(url) == []


def test_every_provenance_of_a_file_is_kept(fake_hub, published, zoo, tmp_path):
    """A file found by a scan, then pulled from two repos: the row keeps all three, first first."""
    commit, data = published
    again = fake_hub.add_repo("carol/dog-mirror", {"dog.safetensors": data, "README.md": _CARD})
    url = str(tmp_path / "catalog.db")
    local = tmp_path / "mine" / "slider.safetensors"
    local.parent.mkdir()
    shutil.copy2(zoo["sdxl-kohya-slider"].path, local)
    assert cli("scan", local.parent, catalog=url).exit_code == 0
    for repo in ("bob/dog", "carol/dog-mirror", "bob/dog"):
        run = loradex(fake_hub, "pull", repo, catalog=url)
        assert run.returncode == 0, run.stderr
    (row,) = _listed(url)
    assert row["source"] == f"hub:bob/dog@{commit}"
    assert row["sources"] == [f"hub:bob/dog@{commit}", f"hub:carol/dog-mirror@{again}"]
    shown = cli("show", str(row["id"]), catalog=url).stdout
    assert f"hub:bob/dog@{commit}, hub:carol/dog-mirror@{again}" in " ".join(shown.split())


_BOMB = (
    "---\na: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))
    + "---\n# bomb\n"
)


@pytest.mark.parametrize(
    "card",
    [
        "---\ninstance_prompt: !!python/object/apply:os.system ['touch {marker}']\n---\n# payload\n",
        _BOMB,
        "---\n[not, a, mapping]\n---\n",
    ],
    ids=["python-tag", "alias-bomb", "not-a-mapping"],
)
def test_a_card_that_cannot_be_read_safely_fails_the_pull_in_one_line_recording_nothing(fake_hub, zoo, tmp_path, card):
    marker = tmp_path / "ran"
    fake_hub.add_repo(
        "bob/evil",
        {
            "dog.safetensors": zoo["sdxl-kohya-slider"].path.read_bytes(),
            "README.md": card.replace("{marker}", str(marker)),
        },
    )
    url = str(tmp_path / "catalog.db")
    one_line(loradex(fake_hub, "pull", "bob/evil", catalog=url), "bob/evil", "card")
    assert not marker.exists()
    assert not Path(url).exists() or _listed(url) == []


@pytest.mark.parametrize("name", ["../../escaped.safetensors", "/tmp/escaped.safetensors", "..\\escaped.safetensors"])
def test_a_file_name_outside_the_download_folder_is_refused_in_one_line(fake_hub, published, tmp_path, name):
    url = str(tmp_path / "catalog.db")
    one_line(loradex(fake_hub, "pull", "bob/dog", "--file", name, catalog=url), "bob/dog", "outside")
    assert not Path(url).exists() or _listed(url) == []


def test_a_card_nested_too_deeply_is_one_line():
    from loradex.adapters.errors import UnsupportedError
    from loradex.registry.hub.cards import front_matter

    with pytest.raises(UnsupportedError, match="nested too deeply"):
        front_matter("---\na: " + "[" * 50_000 + "\n---\n")


@pytest.mark.parametrize(
    ("base_model", "family"),
    [
        ("black-forest-labs/FLUX.2-klein-base-4B", "flux2"),
        ("someone/flux2-finetune", "flux2"),
        ("black-forest-labs/FLUX.1-schnell", "flux"),
        ("stabilityai/stable-diffusion-3.5-medium", "sd3"),
    ],
)
def test_the_card_s_base_model_names_the_family_of_a_file_whose_layers_do_not(fake_hub, tmp_path, base_model, family):
    odd = tmp_path / "odd.safetensors"  # LoRA factors on modules no family has
    save_file(
        {"lora_unet_gizmo.lora_down.weight": torch.ones(2, 8), "lora_unet_gizmo.lora_up.weight": torch.ones(8, 2)}, odd
    )
    fake_hub.add_repo(
        "bob/odd", {"odd.safetensors": odd.read_bytes(), "README.md": f"---\nbase_model: {base_model}\n---\n"}
    )
    url = str(tmp_path / "catalog.db")
    run = loradex(fake_hub, "pull", "bob/odd", token=BOB_TOKEN, catalog=url)
    assert run.returncode == 0, run.stderr
    (row,) = _listed(url)
    assert row["base"] == family
