"""``loradex try --like IMAGE``: an example image's parameters rendered again on the user's own base
— a Civitai example recorded from the fake Civitai (by preview id, with the adapter it shows at its
weight), a PNG with A1111's infotext; options given win, and an unknown image is one line."""

from __future__ import annotations

import json

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from loradex.adapters.generate import read_record
from loradex.adapters.generate.samplers import SAMPLERS
from tests.support.fakecivitai import file_hashes
from tests.support.ops_cli import cli, one_error_line

LORA = "sd1-kohya-lora"


@pytest.fixture
def catalog(zoo, tmp_path) -> str:
    url = str(tmp_path / "catalog.db")
    assert cli("scan", zoo[LORA].path, catalog=url).exit_code == 0
    return url


def try_like(zoo, like, out, *options, catalog: str | None = None):
    """``loradex try [options] --like LIKE`` on the zoo's SD1 base, images into ``out``."""
    return cli("try", *options, "--like", like, "--base", zoo["sd1-diffusers"].path, "-o", out, catalog=catalog)


def one_png(out) -> dict:
    (png,) = [p for p in out.glob("*.png") if p.name != "contact-sheet.png"]
    return read_record(png)


def test_a_civitai_example_is_rendered_again_with_its_prompt_seed_steps_cfg_and_its_lora(
    zoo, tmp_path, catalog, fake_civitai
):
    fake_civitai.add_version(*file_hashes(zoo[LORA].path), version_id=9, model_id=4, images=1)
    assert cli("civitai", "sync", "--all", catalog=catalog).exit_code == 0
    shown = json.loads(cli("show", LORA, "--json", catalog=catalog).stdout)
    (preview,) = shown["previews"]
    out = tmp_path / "again"
    result = try_like(zoo, preview["id"], out, "--size", "32x32", catalog=catalog)
    assert result.exit_code == 0, result.output
    record = one_png(out)
    assert (record["prompt"], record["negative_prompt"]) == ("a photo of sks, example 0", "blurry")
    assert (record["seed"], record["steps"], record["guidance_scale"]) == (1234, 28, 7.0)
    assert record["scheduler"] == json.loads(json.dumps(SAMPLERS["dpm++ 2m karras"].__json__()))
    assert [(a["path"], a["weight"]) for a in record["adapters"]] == [(str(zoo[LORA].path), 0.8)]  # its weight there
    assert (record["width"], record["height"]) == (32, 32)  # the option given wins


def test_a_civitai_example_is_rendered_at_the_size_it_was_generated_at(zoo, tmp_path, catalog, fake_civitai):
    version = fake_civitai.add_version(*file_hashes(zoo[LORA].path), version_id=9, model_id=4, images=1)
    version["images"][0]["meta"]["Size"] = "40x48"
    assert cli("civitai", "sync", "--all", catalog=catalog).exit_code == 0
    (preview,) = json.loads(cli("show", LORA, "--json", catalog=catalog).stdout)["previews"]
    out = tmp_path / "again"
    result = try_like(zoo, preview["id"], out, "--steps", "2", catalog=catalog)
    assert result.exit_code == 0, result.output
    assert (one_png(out)["width"], one_png(out)["height"]) == (40, 48)


def test_a_checkpoint_s_example_is_rendered_on_the_user_s_base_alone(zoo, tmp_path, catalog, fake_civitai):
    checkpoint = zoo["sd1-single"].path
    assert cli("scan", checkpoint, catalog=catalog).exit_code == 0
    fake_civitai.add_version(*file_hashes(checkpoint), version_id=5, model_id=2, images=1)
    assert cli("civitai", "sync", "--all", catalog=catalog).exit_code == 0
    (preview,) = json.loads(cli("show", checkpoint, "--json", catalog=catalog).stdout)["previews"]
    out = tmp_path / "again"
    result = try_like(zoo, preview["path"], out, "--steps", "2", "--size", "32x32", catalog=catalog)
    assert result.exit_code == 0, result.output
    record = one_png(out)
    assert (record["seed"], record["steps"], record["adapters"]) == (1234, 2, [])


def test_a_png_with_a1111_infotext_gives_its_parameters_and_options_given_win(zoo, tmp_path):
    image = tmp_path / "found.png"
    info = PngInfo()
    info.add_text(
        "parameters",
        "orange cat on a sofa <lora:somebody_else:0.7>\nNegative prompt: lowres\n"
        "Steps: 30, Sampler: Euler a, Schedule type: Automatic, CFG scale: 5.5, Seed: 77, Size: 40x48, "
        'Model hash: 1234567890, Lora hashes: "somebody_else: abcdef123456"',
    )
    Image.new("RGB", (40, 48)).save(image, pnginfo=info)
    out = tmp_path / "again"
    result = try_like(zoo, image, out, f"{zoo[LORA].path}:0.5", "--steps", "3")
    assert result.exit_code == 0, result.output
    record = one_png(out)
    assert (record["prompt"], record["negative_prompt"]) == ("orange cat on a sofa", "lowres")  # its tags left out
    assert (record["seed"], record["steps"], record["guidance_scale"]) == (77, 3, 5.5)
    assert (record["width"], record["height"]) == (40, 48)
    assert record["scheduler"]["class"] == "EulerAncestralDiscreteScheduler"
    assert [a["weight"] for a in record["adapters"]] == [0.5]


def test_an_image_that_is_not_there_is_one_line(zoo, tmp_path, catalog):
    one_error_line(try_like(zoo, tmp_path / "nope.png", tmp_path / "o"), "no such image")
    result = try_like(zoo, "999", tmp_path / "o", catalog=catalog)
    one_error_line(result, "no preview has the id 999")
