"""Reading how an image was made: A1111's infotext as A1111, Forge and Civitai write it, and the
sampler names they use mapped to loradex's."""

from __future__ import annotations

from loradex.adapters.generate.examples import Example, parse_infotext, read_example, sampler_named


def test_an_infotext_gives_prompt_negative_and_settings_its_lora_tags_left_out():
    text = (
        "masterpiece, <lora:cat:0.8> a cat\non a sofa\nNegative prompt: lowres,\nbad hands\n"
        "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 4294967296, Size: 832x1216, "
        'Lora hashes: "cat: 0123456789ab, dog: ba9876543210", Version: v1.10.0'
    )
    assert parse_infotext(text) == Example(
        prompt="masterpiece, a cat\non a sofa",
        negative_prompt="lowres,\nbad hands",
        seed=4294967296,
        steps=28,
        cfg=7.0,
        sampler="DPM++ 2M Karras",
        size=(832, 1216),
    )


def test_older_and_forge_infotexts_name_their_sampler_and_guidance_their_way():
    old = parse_infotext("a cat\nSteps: 20, Sampler: Euler a, CFG scale: 6.5, Seed: 3, Size: 512x512")
    assert (old.sampler, old.cfg, old.negative_prompt) == ("Euler a", 6.5, None)
    forge = parse_infotext(
        "a cat\nSteps: 20, Sampler: Euler, Schedule type: Simple, CFG scale: 1, Distilled CFG Scale: 3.5, Seed: 1"
    )
    assert (forge.sampler, forge.cfg) == ("Euler Simple", 3.5)


def test_a_text_without_a_settings_line_is_all_prompt():
    assert parse_infotext("just a prompt") == Example(prompt="just a prompt")


def test_sampler_names_map_to_loradex_s_or_to_none():
    assert sampler_named("DPM++ 2M Karras") == "dpm++ 2m karras"
    assert sampler_named("euler  A") == "euler a"
    assert sampler_named("Euler Simple") == "euler"  # Forge's name of the flow-matching Euler
    assert sampler_named("DPM++ 3M SDE Exponential") is None


def test_an_image_that_says_nothing_gives_an_empty_example(tmp_path):
    from PIL import Image

    path = tmp_path / "plain.jpg"
    Image.new("RGB", (8, 8)).save(path)
    assert read_example(path) == Example()
