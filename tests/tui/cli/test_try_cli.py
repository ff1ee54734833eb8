"""`loradex try` and `loradex eval` as a user runs them: grids on disk, PNG records, previews in
the catalog, job size before rendering, Ctrl-C mid-grid, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from loradex.adapters.generate import read_record
from loradex.registry.queries import artifact_detail, orm
from loradex.registry.store.db import open_catalog
from loradex.registry.store.db import session as open_session
from tests.support.ops_cli import cli, one_error_line

FAST = ["--steps", "2", "--size", "32x32"]


@pytest.fixture
def scanned(zoo, tmp_path) -> str:
    """A catalog holding the SD1 kohya LoRA (the LoHa is left out: try scans it in itself)."""
    url = str(tmp_path / "catalog.db")
    assert cli("scan", zoo["sd1-kohya-lora"].path, catalog=url).exit_code == 0
    return url


def _previews(url: str, name: str) -> list:
    engine = open_catalog(url)
    try:
        with open_session(engine) as s:
            return artifact_detail.details(s, orm.resolve(s, name)).previews
    finally:
        engine.dispose()


def test_try_writes_every_image_and_a_contact_sheet_and_records_previews_of_each_adapter(zoo, tmp_path, scanned):
    out = tmp_path / "grid"
    result = cli(
        "try",
        "sd1-kohya-lora:2",
        f"{zoo['sd1-lycoris-loha'].path}:-1",
        "--base",
        zoo["sd1-diffusers"].path,
        "--seeds",
        "3,4",
        "--scales",
        "0,1",
        *FAST,
        "-o",
        out,
        catalog=scanned,
    )
    assert result.exit_code == 0, result.output
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == [
        "000-seed3-scale0.png",
        "001-seed3-scale1.png",
        "002-seed4-scale0.png",
        "003-seed4-scale1.png",
        "contact-sheet.png",
    ]
    assert "recorded 8 previews" in result.stdout
    for name in ("sd1-kohya-lora", "sd1-lycoris-loha"):
        rows = _previews(scanned, name)
        assert sorted((p.seed, p.scale) for p in rows) == [(3, 0.0), (3, 1.0), (4, 0.0), (4, 1.0)]
        assert {p.source for p in rows} == {"quicktest"} and all(Path(p.path).is_file() for p in rows)
        assert {p.prompt for p in rows} == {"orange cat, cat"}  # the trigger words, as no --prompt was given


def test_an_image_of_two_adapters_records_both_with_their_effective_weights(zoo, tmp_path, scanned):
    out = tmp_path / "grid"
    result = cli(
        "try",
        "sd1-kohya-lora:3.2",
        f"{zoo['sd1-lycoris-loha'].path}:-2",
        "--base",
        zoo["sd1-diffusers"].path,
        "--seeds",
        "3",
        "--scales",
        "0,0.5",
        *FAST,
        "-o",
        out,
        catalog=scanned,
    )
    assert result.exit_code == 0, result.output
    ids = {name: _id(scanned, name) for name in ("sd1-kohya-lora", "sd1-lycoris-loha")}
    for name in ids:
        rows = sorted(_previews(scanned, name), key=lambda p: p.scale)
        assert [p.base_family for p in rows] == ["sd1", "sd1"]
        assert [[(a["artifact_id"], a["name"], a["weight"]) for a in p.adapters] for p in rows] == [
            [(ids["sd1-kohya-lora"], "sd1-kohya-lora", 0.0), (ids["sd1-lycoris-loha"], "sd1-lycoris-loha", 0.0)],
            [(ids["sd1-kohya-lora"], "sd1-kohya-lora", 1.6), (ids["sd1-lycoris-loha"], "sd1-lycoris-loha", -1.0)],
        ]
    shown = cli("show", "sd1-lycoris-loha", catalog=scanned).stdout
    assert (
        f"preview: {out / '001-seed3-scale0.5.png'} (seed 3, scale 0.5) with sd1-kohya-lora:1.6, "
        "sd1-lycoris-loha:-1 on sd1 — orange cat, cat"
    ) in shown
    assert f"preview: {out / '000-seed3-scale0.png'} (seed 3, scale 0) with base alone on sd1" in shown
    with Image.open(out / "contact-sheet.png") as sheet:
        assert sheet.text["Title"].startswith("sd1-kohya-lora.safetensors:3.2 + sd1-lycoris-loha.safetensors:-2: ")


def _id(url: str, name: str) -> int:
    engine = open_catalog(url)
    try:
        with open_session(engine) as s:
            return orm.resolve(s, name).id
    finally:
        engine.dispose()


def test_a_lora_tag_in_the_prompt_applies_the_catalogued_lora_at_its_weight(zoo, tmp_path, scanned):
    result = cli(
        "try",
        "--base",
        zoo["sd1-diffusers"].path,
        "--prompt",
        "an orange cat <lora:sd1-kohya-lora:0.5>",
        "--seeds",
        "1",
        "--scales",
        "0,1",
        *FAST,
        "-o",
        tmp_path / "g",
        "--json",
        catalog=scanned,
    )
    assert result.exit_code == 0, result.output
    images = json.loads(result.stdout)["images"]
    assert [(a["path"], a["weight"]) for i in images for a in i["adapters"]] == [
        (str(zoo["sd1-kohya-lora"].path), 0.0),
        (str(zoo["sd1-kohya-lora"].path), 0.5),
    ]
    assert {i["prompt"] for i in images} == {"an orange cat"}
    assert len(_previews(scanned, "sd1-kohya-lora")) == 2


def test_try_prints_the_job_size_before_rendering(zoo, tmp_path):
    result = cli(
        "try",
        zoo["sd1-kohya-lora"].path,
        "--base",
        zoo["sd1-diffusers"].path,
        "--seeds",
        "1,2,3",
        "--scales",
        "0,0.5",
        *FAST,
        "-o",
        tmp_path / "g",
    )
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == "job: 6 images (3 seeds × 2 scales), 12 steps in all"


def test_try_json_is_only_the_document_with_every_image_record(zoo, tmp_path):
    result = cli(
        "try",
        f"{zoo['sd1-kohya-lora'].path}:0.8",
        "--base",
        zoo["sd1-diffusers"].path,
        "--prompt",
        "  a red  barn ",
        "--scales",
        "0,1",
        "--seeds",
        "5",
        *FAST,
        "-o",
        tmp_path / "g",
        "--json",
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["job"] == {"images": 2, "steps": 4} and doc["previews_recorded"] is None
    first, second = doc["images"]
    assert first == read_record(first["path"]) | {"path": first["path"]}
    assert first["prompt"] == "  a red  barn "  # verbatim
    assert [a["weight"] for a in first["adapters"]] == [0.0] and [a["weight"] for a in second["adapters"]] == [0.8]
    assert second["base"] == {"path": str(zoo["sd1-diffusers"].path), "sha256": second["base"]["sha256"]}
    assert second["scheduler"] == {"class": "DPMSolverMultistepScheduler", "overrides": {"use_karras_sigmas": True}}
    assert "job:" in result.stderr


def test_every_png_carries_a1111_parameters(zoo, tmp_path):
    out = tmp_path / "g"
    result = cli(
        "try",
        f"{zoo['sd1-kohya-lora'].path}:0.7",
        "--base",
        zoo["sd1-diffusers"].path,
        "--prompt",
        "a cat",
        "--negative",
        "blurry",
        "--seeds",
        "9",
        "--scales",
        "1",
        "--sampler",
        "euler a",
        "--cfg",
        "5.5",
        *FAST,
        "-o",
        out,
    )
    assert result.exit_code == 0, result.output
    with Image.open(out / "000-seed9-scale1.png") as im:
        text = im.text["parameters"]
    prompt, negative, settings = text.split("\n")
    assert prompt == "a cat <lora:sd1-kohya-lora:0.7>" and negative == "Negative prompt: blurry"
    for field in (
        "Steps: 2",
        "Sampler: Euler a",
        "CFG scale: 5.5",
        "Seed: 9",
        "Size: 32x32",
        "Model hash: ",
        'Lora hashes: "sd1-kohya-lora: ',
    ):
        assert field in settings


def _offered_samplers() -> list[str]:
    """The sampler names ``loradex try --help`` offers (the --sampler option's help text)."""
    import re

    import typer

    from loradex.tui.cli import app

    command = typer.main.get_command(app).commands["try"]
    (option,) = [p for p in command.params if p.name == "sampler"]
    return re.split(r", | or ", option.help.rstrip("."))


@pytest.mark.parametrize("sampler", _offered_samplers())
def test_every_sampler_the_help_offers_renders_with_clip_skip_2(zoo, tmp_path, sampler):
    out = tmp_path / "g"
    result = cli(
        "try",
        zoo["sd1-kohya-lora"].path,
        "--base",
        zoo["sd1-diffusers"].path,
        "--sampler",
        sampler,
        "--clip-skip",
        "2",
        "--prompt",
        "a (cat:1.2)",
        "--seeds",
        "1",
        "--scales",
        "1",
        *FAST,
        "-o",
        out,
    )
    assert result.exit_code == 0, result.output
    with Image.open(out / "000-seed1-scale1.png") as im:
        settings = im.text["parameters"].splitlines()[-1]
    assert f"Sampler: {sampler.removesuffix(' Karras')}," in settings and "Clip skip: 2" in settings


def test_a_clip_skip_beyond_the_text_encoder_s_layers_is_one_line(zoo, tmp_path):
    result = cli(
        "try",
        zoo["sd1-kohya-lora"].path,
        "--base",
        zoo["sd1-diffusers"].path,
        "--clip-skip",
        "99",
        "--seeds",
        "1",
        "--scales",
        "1",
        *FAST,
        "-o",
        tmp_path / "g",
    )
    one_error_line(result, "--clip-skip 99", "layers")


@pytest.fixture
def late_failing_base(zoo, tmp_path) -> Path:
    """The tiny SD1 diffusers folder with a broken text-encoder config: its header and UNet config
    say SD1 (all a check needs), but diffusers fails when it loads it. An error that names
    anything else proves the base was never loaded."""
    import shutil

    base = tmp_path / "late-failing-sd1"
    shutil.copytree(zoo["sd1-diffusers"].path, base)
    (base / "text_encoder" / "config.json").write_text("{ not json")
    return base


def test_the_late_failing_base_fails_only_when_loaded(zoo, tmp_path, late_failing_base):
    result = cli("try", zoo["sd1-kohya-lora"].path, "--base", late_failing_base, *FAST, "-o", tmp_path / "g")
    one_error_line(result, "could not load")


@pytest.mark.parametrize(
    "case", ["output under a file", "another family", "bad size", "controlnet without image", "missing control image"]
)
def test_every_check_that_needs_no_base_runs_before_it_loads(zoo, tmp_path, late_failing_base, case):
    lora, out = str(zoo["sd1-kohya-lora"].path), tmp_path / "g"
    args, words = [lora], []
    if case == "output under a file":
        (tmp_path / "a-file").write_text("")
        out, words = tmp_path / "a-file" / "grid", ["a-file", "cannot write"]
    elif case == "another family":
        args, words = [str(zoo["sdxl-kohya-lora"].path)], ["sdxl", "sd1"]
    elif case == "bad size":
        args, words = [lora, "--size", "33x33"], ["33x33", "multiples of"]
    elif case == "controlnet without image":
        args, words = [str(zoo["sd1-controlnet-diffusers"].path)], ["control image"]
    else:
        args, words = (
            [str(zoo["sd1-controlnet-diffusers"].path), "--control-image", str(tmp_path / "no.png")],
            ["no.png", "no such image"],
        )
    result = cli("try", *args, "--base", late_failing_base, "--steps", "2", "-o", out)
    line = one_error_line(result, *words)
    assert "could not load" not in line and "job:" not in result.stderr


def test_eval_into_an_unwritable_folder_says_so_before_loading_the_base(zoo, tmp_path, late_failing_base):
    from loradex.adapters.zoo import tiny_clip_folder

    (tmp_path / "a-file").write_text("")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a cat\n")
    result = cli(
        "eval",
        zoo["sd1-kohya-lora"].path,
        "--base",
        late_failing_base,
        "--prompts",
        prompts,
        "--clip",
        tiny_clip_folder(tmp_path / "clip"),
        *FAST,
        "-o",
        tmp_path / "a-file" / "eval",
    )
    one_error_line(result, "a-file", "cannot write")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_try_into_a_read_only_folder_is_one_line_before_loading_the_base(zoo, tmp_path, late_failing_base):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    result = cli("try", zoo["sd1-kohya-lora"].path, "--base", late_failing_base, *FAST, "-o", out)
    one_error_line(result, str(out), "cannot write")


def test_a_lora_for_another_base_is_one_line_naming_it(zoo, tmp_path):
    result = cli("try", zoo["sdxl-kohya-lora"].path, "--base", zoo["sd1-diffusers"].path, *FAST, "-o", tmp_path / "g")
    one_error_line(result, zoo["sdxl-kohya-lora"].path.name, "sdxl", "sd1")


@pytest.mark.parametrize(
    ("family", "guidance"), [("flux", "CFG scale: 1, Distilled CFG Scale: 3.5"), ("sd3", "CFG scale: 7")]
)
def test_try_on_a_dit_renders_with_its_pipeline_scheduler_and_guidance(zoo, tmp_path, family, guidance):
    out = tmp_path / "g"
    result = cli(
        "try",
        f"{zoo[f'{family}-kohya-lora'].path}:48",
        "--base",
        zoo[f"{family}-diffusers"].path,
        "--seeds",
        "1",
        "--scales",
        "0,1",
        *FAST,
        "-o",
        out,
    )
    assert result.exit_code == 0, result.output
    with Image.open(out / "001-seed1-scale1.png") as im:
        settings = im.text["parameters"].splitlines()[-1]
    assert f"Sampler: Euler, Schedule type: Simple, {guidance}, Seed: 1," in settings
    assert read_record(out / "001-seed1-scale1.png")["pipeline"] == (
        "FluxPipeline" if family == "flux" else "StableDiffusion3Pipeline"
    )


def test_a_negative_prompt_on_flux_is_one_line_before_the_base_loads(zoo, tmp_path):
    result = cli(
        "try",
        zoo["flux-kohya-lora"].path,
        "--base",
        zoo["flux-diffusers"].path,
        "--negative",
        "blurry",
        *FAST,
        "-o",
        tmp_path / "g",
    )
    one_error_line(result, "flux", "no negative prompt")
    assert not (tmp_path / "g").exists()


def test_a_single_file_base_without_its_configs_offline_says_the_two_ways_to_give_them(zoo, tmp_path):
    result = cli("try", zoo["sd1-kohya-lora"].path, "--base", zoo["sd1-single"].path, *FAST, "-o", tmp_path / "g")
    one_error_line(
        result, zoo["sd1-single"].path.name, "stable-diffusion-v1-5/stable-diffusion-v1-5", "hf download", "--config"
    )


#: The files of stable-diffusion-v1-5/stable-diffusion-v1-5 on the Hub (its listing, weights included).
_SD15_REPO_FILES = [
    ".gitattributes",
    "README.md",
    "model_index.json",
    "v1-inference.yaml",
    "v1-5-pruned.ckpt",
    "v1-5-pruned.safetensors",
    "v1-5-pruned-emaonly.ckpt",
    "v1-5-pruned-emaonly.safetensors",
    "feature_extractor/preprocessor_config.json",
    "scheduler/scheduler_config.json",
    "safety_checker/config.json",
    "safety_checker/model.safetensors",
    "safety_checker/pytorch_model.bin",
    "text_encoder/config.json",
    "text_encoder/model.safetensors",
    "text_encoder/pytorch_model.bin",
    "tokenizer/merges.txt",
    "tokenizer/special_tokens_map.json",
    "tokenizer/tokenizer_config.json",
    "tokenizer/vocab.json",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
    "unet/diffusion_pytorch_model.fp16.safetensors",
    "unet/diffusion_pytorch_model.bin",
    "vae/config.json",
    "vae/diffusion_pytorch_model.safetensors",
    "vae/diffusion_pytorch_model.bin",
]


def _hf_download_patterns(command: str) -> tuple[list[str] | None, list[str] | None]:
    """(allow, ignore) patterns that the real ``hf download`` would use for ``command``: parsed by
    huggingface_hub's own CLI (its Click group), combined as its download command does."""
    import shlex

    from huggingface_hub.cli.hf import app as hf

    argv = shlex.split(command)
    assert argv[0] == "hf"
    with hf.make_context("hf", argv[1:], resilient_parsing=True) as ctx:
        name, command, args = hf.resolve_command(ctx, argv[1:])
        params = command.make_context(name, args, parent=ctx).params
    assert name == "download" and not params["filenames"], params  # no pattern was taken for a file name
    return list(params["include"]) or None, list(params["exclude"]) or None


def test_the_offline_hint_s_hf_download_command_fetches_the_configs_and_no_weights(zoo, tmp_path):
    import re

    from huggingface_hub.utils import filter_repo_objects

    result = cli("try", zoo["sd1-kohya-lora"].path, "--base", zoo["sd1-single"].path, *FAST, "-o", tmp_path / "g")
    line = one_error_line(result, "hf download")
    command = re.search(r"fetch them once \((hf download [^)]*)\)", line)[1]
    allow, ignore = _hf_download_patterns(command)
    fetched = set(filter_repo_objects(_SD15_REPO_FILES, allow_patterns=allow, ignore_patterns=ignore))
    # What diffusers' single-file loader itself takes from the config repo (its allow_patterns).
    needed = set(
        filter_repo_objects(_SD15_REPO_FILES, allow_patterns=["**/*.json", "*.json", "*.txt", "**/*.txt", "**/*.model"])
    )
    assert fetched == needed
    assert {"model_index.json", "unet/config.json", "tokenizer/vocab.json", "tokenizer/merges.txt"} <= fetched
    assert not [f for f in fetched if f.endswith((".safetensors", ".bin", ".ckpt"))]


def test_a_single_file_base_renders_with_a_config_folder(zoo, tmp_path):
    result = cli(
        "try",
        zoo["sd1-kohya-lora"].path,
        "--base",
        zoo["sd1-single"].path,
        "--config",
        zoo["sd1-diffusers"].path,
        "--scales",
        "1",
        "--seeds",
        "1",
        *FAST,
        "-o",
        tmp_path / "g",
        "--json",
    )
    assert result.exit_code == 0, result.output
    (image,) = json.loads(result.stdout)["images"]
    assert image["base"]["path"] == str(zoo["sd1-single"].path)


_SLOW_TRY = """
import sys
from loradex.tui.entry import main
sys.argv = ["loradex", *sys.argv[1:]]
main()
"""


def test_ctrl_c_mid_grid_keeps_the_finished_images_recorded_and_exits_130(zoo, tmp_path, scanned):
    out = tmp_path / "grid"
    args = [
        "--catalog",
        scanned,
        "try",
        "sd1-kohya-lora",
        "--base",
        str(zoo["sd1-diffusers"].path),
        "--seeds",
        "1,2,3,4",
        "--scales",
        "0,0.5,1",
        "--steps",
        "40",
        "--size",
        "32x32",
        "-o",
        str(out),
    ]
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_TRY, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    deadline = time.monotonic() + 120
    while not list(out.glob("0*.png")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    images = sorted(out.glob("0*.png"))
    assert 1 <= len(images) < 12, stderr
    for png in images:  # whole, valid PNGs with their records
        with Image.open(png) as im:
            im.verify()
        assert read_record(png)["seed"] in (1, 2, 3, 4)
    assert (out / "contact-sheet.png").is_file()
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "a temp file was left"
    assert sorted(p.path for p in _previews(scanned, "sd1-kohya-lora")) == [str(p) for p in images]
    assert "interrupted:" in stderr and "Traceback" not in stderr


def test_eval_scores_each_scale_and_writes_a_plot_and_a_csv(zoo, tmp_path):
    from loradex.adapters.zoo import tiny_clip_folder

    clip = tiny_clip_folder(tmp_path / "clip")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# sweep\na cat\n\nan orange cat\n")
    refs = tmp_path / "refs"
    refs.mkdir()
    Image.new("RGB", (32, 32), "orange").save(refs / "r.png")
    out = tmp_path / "eval"
    result = cli(
        "eval",
        zoo["sd1-kohya-lora"].path,
        "--base",
        zoo["sd1-diffusers"].path,
        "--prompts",
        prompts,
        "--scales",
        "0,1",
        "--seeds",
        "1",
        "--reference-dir",
        refs,
        "--clip",
        clip,
        *FAST,
        "-o",
        out,
        "--json",
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [(r["scale"], r["images"]) for r in doc["rows"]] == [(0.0, 2), (1.0, 2)]
    assert all(
        0 <= r["clip_score"] <= 100 and -1 <= r["mean_cosine"] <= 1 and r["reference_cosine"] is not None
        for r in doc["rows"]
    )
    assert (out / "scores.csv").read_text().splitlines()[0] == "scale,images,clip_score,mean_cosine,reference_cosine"
    with Image.open(out / "scores.png") as im:
        im.verify()


def test_show_lists_the_quick_test_previews_with_seed_and_scale(zoo, tmp_path, scanned):
    out = tmp_path / "grid"
    assert (
        cli(
            "try",
            "sd1-kohya-lora",
            "--base",
            zoo["sd1-diffusers"].path,
            "--seeds",
            "7",
            "--scales",
            "0.5",
            "--prompt",
            "a barn",
            *FAST,
            "-o",
            out,
            catalog=scanned,
        ).exit_code
        == 0
    )
    shown = cli("show", "sd1-kohya-lora", catalog=scanned)
    assert (
        f"preview: {out / '000-seed7-scale0.5.png'} (seed 7, scale 0.5) with sd1-kohya-lora:0.5 on sd1 — a barn"
        in shown.stdout
    )


def test_a_hub_id_base_loads_from_the_local_cache_offline(zoo, tmp_path):
    """A Hub id is looked up in the Hugging Face cache (here a cache laid out by hand, as
    huggingface_hub writes it: refs/main → snapshots/<commit>/)."""
    import shutil

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--someone--tiny-sd1"
    shutil.copytree(zoo["sd1-diffusers"].path, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    args = [
        "try",
        str(zoo["sd1-kohya-lora"].path),
        "--base",
        "someone/tiny-sd1",
        "--seeds",
        "1",
        "--scales",
        "1",
        *FAST,
        "-o",
        str(tmp_path / "g"),
        "--json",
    ]
    run = subprocess.run(
        [sys.executable, "-c", _SLOW_TRY, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub")},
    )
    assert run.returncode == 0, run.stderr
    (image,) = json.loads(run.stdout)["images"]
    assert image["base"]["path"] == str(repo / "snapshots" / commit)


def test_a_hub_id_not_in_the_cache_offline_is_one_line(zoo, tmp_path):
    args = ["try", str(zoo["sd1-kohya-lora"].path), "--base", "someone/absent", *FAST, "-o", str(tmp_path / "g")]
    run = subprocess.run(
        [sys.executable, "-c", _SLOW_TRY, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub")},
    )
    assert run.returncode == 1
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith("error: ") and "someone/absent" in line and "cache" in line
