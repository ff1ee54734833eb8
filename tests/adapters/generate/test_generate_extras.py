"""Quick-test generation beyond LoRAs: textual inversions, ControlNet, img2img, and what the
records say about them. Everything renders on the zoo's tiny random-weight bases, at 32×32 with
two to four steps, so the file runs in seconds on a CPU."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from loradex.adapters.errors import IncompatibleError, LoradexError
from loradex.adapters.generate import Workbench, read_record
from loradex.adapters.generate.control import canny
from loradex.adapters.libraries import quiet
from tests.support.pictures import pixels

SIZE = (32, 32)
FAST = dict(size=SIZE, steps=2, seeds=[3])


@pytest.fixture(autouse=True, scope="module")
def _quiet():
    """Library chatter off."""
    quiet()


@pytest.fixture
def sd1(zoo) -> Workbench:
    """A fresh SD1 workbench per test (a tiny base loads in a fraction of a second), so what one
    test loads into its tokenizer never leaks into another."""
    return Workbench(zoo["sd1-diffusers"].path)


@pytest.fixture
def sdxl(zoo) -> Workbench:
    return Workbench(zoo["sdxl-diffusers"].path)


def same(a, b) -> bool:
    return np.array_equal(pixels(a), pixels(b))


def embed(pipe, prompt: str) -> torch.Tensor:
    """The SD1 prompt embedding the pipeline conditions on (its own encode_prompt)."""
    with torch.inference_mode():
        return pipe.encode_prompt(prompt, "cpu", 1, False)[0]


def rows(tokenizer, text_encoder, tokens: list[str]) -> torch.Tensor:
    """The text encoder's input-embedding rows of ``tokens``."""
    ids = tokenizer.convert_tokens_to_ids(tokens)
    return text_encoder.get_input_embeddings().weight[ids].detach().float()


def emb_params_file(folder: Path, name: str, vectors: int, seed: int = 0) -> tuple[Path, torch.Tensor]:
    """An A1111 safetensors embedding (the ``emb_params`` shape) of ``vectors`` SD1-wide vectors."""
    from safetensors.torch import save_file

    t = torch.randn(vectors, 768, generator=torch.Generator().manual_seed(seed)) * 0.02
    path = folder / f"{name}.safetensors"
    save_file({"emb_params": t}, path)
    return path, t


def a1111_vectors(path: Path) -> torch.Tensor:
    return torch.load(path, weights_only=True)["string_to_param"]["*"].float()


def photo(size: tuple[int, int] = (64, 64)):
    """A synthetic 'photo': a grey background with a dark rectangle and a light disc."""
    from PIL import Image, ImageDraw

    im = Image.new("RGB", size, (128, 120, 110))
    draw = ImageDraw.Draw(im)
    w, h = size
    draw.rectangle([w // 8, h // 8, w // 2, h // 2], fill=(20, 30, 40))
    draw.ellipse([w // 2, h // 2, w - 4, h - 4], fill=(240, 230, 200))
    return im


# -- textual inversion: the token changes the embedding and the image ---------------------------


def _sd1_embedding(zoo, tmp_path: Path, shape: str) -> tuple[Path, str, torch.Tensor]:
    """(file, token, vectors (n, 768)) for each TI file shape an SD1 user meets."""
    if shape == "diffusers .bin":
        path = zoo["sd1-ti-diffusers"].path
        return path, "<cat-toy>", torch.load(path, weights_only=True)["<cat-toy>"].float().reshape(1, -1)
    if shape == "a1111 .pt":
        path = zoo["sd1-ti-a1111"].path
        return path, "cat-toy", a1111_vectors(path)
    path, t = emb_params_file(tmp_path, "emb-params", 2)
    return path, "emb-params", t


@pytest.mark.parametrize("shape", ["diffusers .bin", "a1111 .pt", "a1111 .safetensors"])
def test_an_sd1_embedding_changes_the_prompt_embedding_and_the_image(zoo, sd1, tmp_path, shape):
    path, token, vectors = _sd1_embedding(zoo, tmp_path, shape)
    prompt = f"a photo of {token}"
    before = embed(sd1.pipe, prompt)
    grid = sd1.render([(path, 1.0)], prompt=prompt, scales=[0, 1], **FAST)
    after = embed(sd1.pipe, prompt)

    tokens = [token] + [f"{token}_{i}" for i in range(1, len(vectors))]
    assert torch.equal(rows(sd1.pipe.tokenizer, sd1.pipe.text_encoder, tokens), vectors)
    assert not torch.allclose(before, after)
    assert not same(grid.pictures[0], grid.pictures[1])  # scale 0 is the base alone


def test_an_sdxl_embedding_loads_clip_l_and_clip_g_into_both_text_encoders(zoo, sdxl):
    from safetensors.torch import load_file

    path = zoo["sdxl-ti"].path
    stored = load_file(path)
    pipe, prompt = sdxl.pipe, "a photo of sdxl-ti"
    width_l = pipe.text_encoder.config.hidden_size

    def encode():
        with torch.inference_mode():
            embeds, _, pooled, _ = pipe.encode_prompt(
                prompt, device="cpu", num_images_per_prompt=1, do_classifier_free_guidance=False
            )
        return embeds[..., :width_l], embeds[..., width_l:], pooled

    before = encode()
    grid = sdxl.render([(path, 1.0)], prompt=prompt, scales=[0, 1], **FAST)
    after = encode()

    tokens = ["sdxl-ti", "sdxl-ti_1"]
    assert torch.equal(rows(pipe.tokenizer, pipe.text_encoder, tokens), stored["clip_l"].float())
    assert torch.equal(rows(pipe.tokenizer_2, pipe.text_encoder_2, tokens), stored["clip_g"].float())
    for b, a in zip(before, after, strict=True):  # clip_l's half, clip_g's half, the pooled clip_g vector
        assert not torch.allclose(b, a)
    assert not same(grid.pictures[0], grid.pictures[1])


# -- multi-vector tokens and reloading --------------------------------------------------------


def test_a_multi_vector_embedding_expands_to_numbered_tokens_and_renders(sd1, tmp_path):
    path, vectors = emb_params_file(tmp_path, "tri", 3)
    grid = sd1.render([(path, 1.0)], prompt="a tri", **FAST)

    assert sd1.pipe.maybe_convert_prompt("a tri", sd1.pipe.tokenizer) == "a tri tri_1 tri_2"
    assert torch.equal(rows(sd1.pipe.tokenizer, sd1.pipe.text_encoder, ["tri", "tri_1", "tri_2"]), vectors)
    assert grid.pictures[0].size == SIZE


def test_an_embedding_switched_off_and_on_again_is_reloaded_whole(zoo, sd1):
    """Scale 0 unloads the two-vector token and scale 1 loads it again: every vector must have
    gone (a stray ``cat-toy_1`` made the reload fail), and the same image comes back."""
    path = zoo["sd1-ti-a1111"].path
    grid = sd1.render([(path, 1.0)], prompt="a cat-toy", scales=[1, 0, 1], **FAST)
    size = len(sd1.pipe.tokenizer)
    again = sd1.render([(path, 1.0)], prompt="a cat-toy", scales=[0, 1], **FAST)

    assert same(grid.pictures[0], grid.pictures[2])
    assert same(grid.pictures[0], again.pictures[1])
    assert len(sd1.pipe.tokenizer) == size
    assert sd1.pipe.text_encoder.get_input_embeddings().weight.shape[0] == size


def test_the_same_token_from_another_file_replaces_the_first(zoo, sd1, tmp_path):
    first = zoo["sd1-ti-a1111"].path
    data = torch.load(first, weights_only=True)
    data["string_to_param"]["*"] = torch.randn(2, 768, generator=torch.Generator().manual_seed(9)) * 0.02
    second = tmp_path / "cat-toy-v2.pt"
    torch.save(data, second)

    one = sd1.render([(first, 1.0)], prompt="a cat-toy", **FAST)
    size = len(sd1.pipe.tokenizer)
    two = sd1.render([(second, 1.0)], prompt="a cat-toy", **FAST)

    assert two.images[0].embeddings[0].token == "cat-toy"
    assert len(sd1.pipe.tokenizer) == size
    assert torch.equal(
        rows(sd1.pipe.tokenizer, sd1.pipe.text_encoder, ["cat-toy", "cat-toy_1"]), data["string_to_param"]["*"]
    )
    assert not same(one.pictures[0], two.pictures[0])


def test_unloading_one_embedding_leaves_the_others_vectors_on_its_token(zoo, sd1):
    """diffusers renumbers the tokens after the removed ones; the rows must follow them."""
    two_vectors, one_vector = zoo["sd1-ti-a1111"].path, zoo["sd1-ti-diffusers"].path
    sd1.render([(two_vectors, 1.0), (one_vector, 1.0)], prompt="cat-toy <cat-toy>", **FAST)
    sd1.render([(one_vector, 1.0)], prompt="<cat-toy>", **FAST)

    vocab = sd1.pipe.tokenizer.get_vocab()
    assert "cat-toy" not in vocab and "cat-toy_1" not in vocab
    stored = torch.load(one_vector, weights_only=True)["<cat-toy>"].float().reshape(1, -1)
    assert torch.equal(rows(sd1.pipe.tokenizer, sd1.pipe.text_encoder, ["<cat-toy>"]), stored)


# -- an embedding for another base ------------------------------------------------------------


def test_an_sd2_embedding_on_an_sd1_base_is_one_line_naming_the_file(zoo, sd1, tmp_path):
    path = zoo["sd2-ti-a1111"].path
    out = tmp_path / "out"
    with pytest.raises(IncompatibleError) as caught:
        sd1.render([(path, 1.0)], prompt="x", scales=[0, 1], out=out, **FAST)

    message = str(caught.value)
    assert isinstance(caught.value, LoradexError)
    assert "\n" not in message and str(path) in message and "sd2" in message
    assert not list(out.glob("*.png"))  # refused before the base-alone column was rendered


# -- ControlNet -------------------------------------------------------------------------------


@pytest.fixture(params=["diffusers folder", "single file"])
def controlnet(request, zoo) -> dict:
    """The ``render`` arguments naming the zoo's SD1 ControlNet in either shape."""
    folder = zoo["sd1-controlnet-diffusers"].path
    if request.param == "diffusers folder":
        return {"adapters": [(folder, 1.0)]}
    return {"adapters": [(zoo["sd1-controlnet-single"].path, 1.0)], "control_config": folder}


def test_two_control_images_give_two_images_on_the_base_loaded_once(sd1, controlnet):
    a = sd1.render(**controlnet, prompt="x", control_image=photo(), **FAST)
    b = sd1.render(**controlnet, prompt="x", control_image=photo().rotate(90), **FAST)

    assert not same(a.pictures[0], b.pictures[0])
    assert a.images[0].pipeline == "StableDiffusionControlNetPipeline"
    assert sd1.loads == 1


def test_a_controlnet_at_scale_0_is_the_base_alone(sd1, controlnet):
    base = sd1.render([], prompt="x", **FAST)
    off = sd1.render(**controlnet, prompt="x", control_image=photo(), scales=[0], **FAST)

    assert same(base.pictures[0], off.pictures[0])
    assert off.images[0].controlnet is None


def test_a_controlnet_pipeline_shares_the_base_text_encoder(zoo, sd1):
    """The ControlNet variant comes from the base by from_pipe: an embedding loaded into the
    base's tokenizer and text encoder reaches it, with no second copy of the base."""
    cn = (zoo["sd1-controlnet-diffusers"].path, 1.0)
    plain = sd1.render([cn], prompt="a cat-toy", control_image=photo(), **FAST)
    with_ti = sd1.render([cn, (zoo["sd1-ti-a1111"].path, 1.0)], prompt="a cat-toy", control_image=photo(), **FAST)

    assert not same(plain.pictures[0], with_ti.pictures[0])
    assert with_ti.images[0].embeddings[0].token == "cat-toy"
    assert sd1.loads == 1


def test_canny_turns_a_photo_into_white_edges_on_black():
    edges = pixels(canny(photo()))

    assert set(np.unique(edges)) == {0, 255}
    assert (edges[..., 0] == edges[..., 1]).all() and (edges[..., 0] == edges[..., 2]).all()
    assert edges[0, 0, 0] == 0 and edges[16, 16, 0] == 0  # flat background, flat rectangle inside
    assert edges[8, 8:33, 0].any()  # the rectangle's top side


def test_control_canny_renders_from_the_photo_s_edges(zoo, sd1, tmp_path):
    source = tmp_path / "photo.png"
    photo().save(source)
    cn = [(zoo["sd1-controlnet-diffusers"].path, 1.0)]

    edged = sd1.render(cn, prompt="x", control_image=source, control_canny=True, **FAST)
    by_hand = sd1.render(cn, prompt="x", control_image=canny(photo().resize(SIZE)), **FAST)
    raw = sd1.render(cn, prompt="x", control_image=source, **FAST)

    assert same(edged.pictures[0], by_hand.pictures[0])
    assert not same(edged.pictures[0], raw.pictures[0])
    assert edged.images[0].controlnet["image"] == str(source)


# -- img2img ----------------------------------------------------------------------------------


def test_img2img_at_strength_0_returns_the_init_image_at_the_render_size(sd1, tmp_path):
    source = tmp_path / "init.png"
    photo((48, 40)).save(source)
    grid = sd1.render([], prompt="x", init_image=source, strength=0.0, **FAST)

    assert same(grid.pictures[0], photo((48, 40)).resize(SIZE))
    assert grid.images[0].init_image == {"path": str(source), "strength": 0.0}
    assert grid.job.steps == 0


def test_img2img_above_strength_0_changes_the_image_the_same_way_for_a_seed(sd1):
    init = photo((48, 40))
    kwargs = dict(prompt="x", init_image=init, strength=0.5, size=SIZE, steps=4, seeds=[5])
    one = sd1.render([], **kwargs)
    two = sd1.render([], **kwargs)

    assert not same(one.pictures[0], init.resize(SIZE))
    assert same(one.pictures[0], two.pictures[0])
    assert one.images[0].pipeline == "StableDiffusionImg2ImgPipeline"
    assert sd1.loads == 1


# -- records ----------------------------------------------------------------------------------


def test_an_embedding_s_record_and_png_carry_its_path_sha256_and_token(zoo, sd1, tmp_path):
    path = zoo["sd1-ti-diffusers"].path
    grid = sd1.render([(path, 1.0)], prompt="a <cat-toy>", out=tmp_path / "out", **FAST)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    want = {"path": str(path), "sha256": sha, "token": "<cat-toy>"}

    ref = grid.images[0].embeddings[0]
    assert {"path": ref.path, "sha256": ref.sha256, "token": ref.token} == want
    assert read_record(grid.images[0].path)["embeddings"] == [want]


def test_the_base_alone_image_s_record_loads_no_embedding_but_lists_it_at_weight_0(zoo, sd1, tmp_path):
    path = zoo["sd1-ti-diffusers"].path
    grid = sd1.render([(path, 1.0)], prompt="a <cat-toy>", scales=[0, 1], out=tmp_path / "out", **FAST)
    base_alone, applied = (read_record(image.path) for image in grid.images)

    assert base_alone["embeddings"] == []
    assert [e["token"] for e in applied["embeddings"]] == ["<cat-toy>"]
    assert [(a["path"], a["kind"], a["weight"]) for a in base_alone["adapters"]] == [
        (str(path), "textual_inversion", 0.0)
    ]
    assert [a["weight"] for a in applied["adapters"]] == [1.0]


# -- A1111 prompt syntax: <lora:…> tags, emphasis, Clip skip ----------------------------------


@pytest.mark.parametrize(
    "text, parsed",
    [  # the examples of A1111's parse_prompt_attention docstring
        ("normal text", [("normal text", 1.0)]),
        ("an (important) word", [("an ", 1.0), ("important", 1.1), (" word", 1.0)]),
        ("(unbalanced", [("unbalanced", 1.1)]),
        ("\\(literal\\]", [("(literal]", 1.0)]),
        ("(unnecessary)(parens)", [("unnecessaryparens", 1.1)]),
        (
            "a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
            [
                ("a ", 1.0),
                ("house", 1.5730000000000004),
                (" ", 1.1),
                ("on", 1.0),
                (" a ", 1.1),
                ("hill", 0.55),
                (", sun, ", 1.1),
                ("sky", 1.4641000000000006),
                (".", 1.1),
            ],
        ),
    ],
)
def test_emphasis_parses_as_a1111_documents_it(text, parsed):
    from loradex.adapters.generate.prompts import parse_attention

    assert parse_attention(text) == parsed


def test_a_lora_tag_in_the_prompt_renders_pixel_identical_to_the_lora_given_explicitly(zoo, sd1, tmp_path):
    from PIL import Image

    lora = zoo["sd1-kohya-lora"].path
    tagged = sd1.render(
        [],
        prompt="an orange cat <lora:sd1-kohya-lora:0.8>",
        resolve_lora=lambda name: zoo[name].path,
        out=tmp_path / "tagged",
        **FAST,
    )
    given = sd1.render([(lora, 0.8)], prompt="an orange cat", **FAST)

    assert same(tagged.pictures[0], given.pictures[0])
    record = read_record(tagged.images[0].path)
    assert record["prompt"] == "an orange cat"  # the text the encoder got
    assert [(a["path"], a["weight"]) for a in record["adapters"]] == [(str(lora), 0.8)]
    with Image.open(tagged.images[0].path) as im:
        assert im.text["parameters"].splitlines()[0] == "an orange cat <lora:sd1-kohya-lora:0.8>"


def test_a_lora_tag_with_separate_part_weights_or_another_network_is_one_line(sd1):
    for prompt in ("x <lora:a:0.5:0.2>", "x <lora:a:te=0.5>", "x <hypernet:h:1>", "x <lora:a:strong>"):
        with pytest.raises(LoradexError) as caught:
            sd1.render([], prompt=prompt, resolve_lora=str, **FAST)
        assert "\n" not in str(caught.value) and "prompt" in str(caught.value)


def _a1111_weighted(pipe, words: list[tuple[str, float]]) -> torch.Tensor:
    """By hand: the text encoder's output for the words, each token's row times its word's weight,
    then the whole scaled back to its original mean (A1111's process_tokens)."""
    tok = pipe.tokenizer
    ids, weights = [tok.bos_token_id], [1.0]
    for word, weight in words:
        word_ids = tok(word, add_special_tokens=False)["input_ids"]
        ids, weights = ids + word_ids, weights + [weight] * len(word_ids)
    ids, weights = ids + [tok.eos_token_id], weights + [1.0]
    pad = tok.model_max_length - len(ids)
    ids, weights = ids + [tok.pad_token_id] * pad, weights + [1.0] * pad
    with torch.inference_mode():
        z = pipe.text_encoder(torch.tensor([ids]))[0]
    mean = z.mean()
    z = z * torch.tensor(weights).reshape(1, -1, 1)
    return z * (mean / z.mean())


def test_emphasis_weights_the_token_embeddings_as_a1111_does(sd1):
    from loradex.adapters.generate.prompts import encode

    embeds = encode(sd1.pipe, "a (cat:1.3) on a [mat]", "")
    want = _a1111_weighted(sd1.pipe, [("a", 1.0), ("cat", 1.3), ("on a", 1.0), ("mat", 1 / 1.1)])

    assert torch.allclose(embeds["prompt_embeds"], want, atol=1e-6, rtol=0)
    assert torch.equal(embeds["negative_prompt_embeds"], embed(sd1.pipe, ""))


def test_emphasis_changes_the_image_and_weight_1_renders_as_the_plain_words(sd1, tmp_path):
    plain = sd1.render([], prompt="a cat", **FAST)
    one = sd1.render([], prompt="a (cat:1)", **FAST)
    more = sd1.render([], prompt="a (cat:1.5)", out=tmp_path / "g", **FAST)

    assert same(plain.pictures[0], one.pictures[0])
    assert plain.images[0].emphasis is None and one.images[0].emphasis == "a1111"  # its text is A1111 syntax
    assert not same(plain.pictures[0], more.pictures[0])
    assert read_record(more.images[0].path)["emphasis"] == "a1111"


@pytest.mark.parametrize("base", ["sd1", "sdxl"])
def test_loradex_s_own_encoding_of_a_plain_prompt_equals_diffusers_encode_prompt(base, request):
    """The path emphasis and Clip skip take gives diffusers' own embeddings when neither is used."""
    from loradex.adapters.generate.prompts import encode

    pipe = request.getfixturevalue(base).pipe
    ours = encode(pipe, "a photo of a cat", "blurry")
    with torch.inference_mode():
        theirs = pipe.encode_prompt(
            "a photo of a cat",
            device="cpu",
            num_images_per_prompt=1,
            do_classifier_free_guidance=True,
            negative_prompt="blurry",
        )
    keys = ["prompt_embeds", "negative_prompt_embeds"]
    if base == "sdxl":
        keys += ["pooled_prompt_embeds", "negative_pooled_prompt_embeds"]
    for key, value in zip(keys, theirs, strict=True):
        assert torch.equal(ours[key], value), key


def test_clip_skip_2_conditions_on_the_penultimate_layer_for_prompt_and_negative(sd1):
    """A1111's Clip skip 2: the penultimate layer's hidden states through the final layer norm,
    rendered here by plain diffusers from embeddings computed by hand."""
    pipe = sd1.pipe
    skipped = sd1.render([], prompt="a cat", negative_prompt="blurry", clip_skip=2, **FAST)
    last = sd1.render([], prompt="a cat", negative_prompt="blurry", clip_skip=1, **FAST)
    none = sd1.render([], prompt="a cat", negative_prompt="blurry", **FAST)

    def penultimate(text: str) -> torch.Tensor:
        ids = pipe.tokenizer(
            text, padding="max_length", max_length=pipe.tokenizer.model_max_length, return_tensors="pt"
        ).input_ids
        with torch.inference_mode():
            hidden = pipe.text_encoder(ids, output_hidden_states=True).hidden_states[-2]
            return pipe.text_encoder.final_layer_norm(hidden)

    from loradex.adapters.generate.samplers import DEFAULT_SAMPLER, sampler

    pipe.scheduler = sampler(DEFAULT_SAMPLER).scheduler(pipe.scheduler.config)
    with torch.inference_mode():
        by_hand = pipe(
            prompt_embeds=penultimate("a cat"),
            negative_prompt_embeds=penultimate("blurry"),
            num_inference_steps=2,
            width=32,
            height=32,
            guidance_scale=7.0,
            generator=torch.Generator("cpu").manual_seed(3),
        ).images[0]
    assert same(skipped.pictures[0], by_hand)
    assert same(last.pictures[0], none.pictures[0]) and not same(skipped.pictures[0], none.pictures[0])
    assert skipped.images[0].clip_skip == 2


# -- ControlNet: reproducible from its record, cropped like A1111, shown on the sheet -----------


def test_a_control_image_of_another_aspect_is_centre_cropped_not_stretched(zoo, sd1):
    cn = [(zoo["sd1-controlnet-diffusers"].path, 1.0)]
    wide = photo((64, 32))
    rendered = sd1.render(cn, prompt="x", control_image=wide, **FAST)
    cropped = sd1.render(cn, prompt="x", control_image=wide.crop((16, 0, 48, 32)), **FAST)  # A1111's Crop and Resize
    stretched = sd1.render(cn, prompt="x", control_image=wide.resize(SIZE), **FAST)

    assert same(rendered.pictures[0], cropped.pictures[0])
    assert not same(rendered.pictures[0], stretched.pictures[0])


def test_a_canny_controlnet_run_records_its_control_image_and_preprocessor_as_a1111_does(zoo, sd1, tmp_path):
    from PIL import Image

    source = tmp_path / "photo.png"
    photo().save(source)
    cn = zoo["sd1-controlnet-diffusers"].path
    grid = sd1.render([(cn, 1.0)], prompt="x", control_image=source, control_canny=True, out=tmp_path / "g", **FAST)

    record = read_record(grid.images[0].path)["controlnet"]
    sha = hashlib.sha256(source.read_bytes()).hexdigest()
    assert record["image"] == str(source) and record["image_sha256"] == sha
    assert record["preprocessor"] == "canny" and record["thresholds"] == [100, 200]
    assert record["resize_mode"] == "Crop and Resize"
    with Image.open(grid.images[0].path) as im:
        settings = im.text["parameters"].splitlines()[-1]
    cn_sha = grid.images[0].controlnet["sha256"]
    assert (
        f'ControlNet 0: "Module: canny, Model: sd1-controlnet-diffusers [{cn_sha[:8]}], Weight: 1, '
        "Resize Mode: Crop and Resize, Threshold A: 100, Threshold B: 200"
    ) in settings


def test_the_contact_sheet_shows_the_control_image_s_edges(zoo, sd1, tmp_path):
    import cv2
    from PIL import Image

    cn = [(zoo["sd1-controlnet-diffusers"].path, 1.0)]
    grid = sd1.render(cn, prompt="x", control_image=photo(), control_canny=True, out=tmp_path / "g", **FAST)
    edges = canny(photo().resize(SIZE)).resize((128, 128), Image.Resampling.NEAREST)  # the sheet's cell zoom
    with Image.open(grid.sheet) as sheet:
        found = cv2.matchTemplate(pixels(sheet).astype(np.float32), pixels(edges).astype(np.float32), cv2.TM_SQDIFF)
    assert found.min() == 0  # the edges, pixel for pixel, somewhere on the sheet
