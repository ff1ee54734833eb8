"""bake into and extract from a GGUF are refused in one line that says why: a quantised block cannot
take a float delta without re-quantising its whole tensor, which changes every weight."""

from __future__ import annotations

import pytest

from loradex.adapters import UnsupportedError
from loradex.adapters.ops.bake import bake
from loradex.adapters.ops.extract import extract
from tests.support.gguf_files import denoiser_gguf
from tests.support.ops_cli import cli, one_error_line


@pytest.fixture(scope="module")
def sd1_gguf(zoo, tmp_path_factory):
    return denoiser_gguf(zoo["sd1-single"].path, tmp_path_factory.mktemp("gguf") / "sd1-Q8_0.gguf", "sd1")


def test_bake_into_a_gguf_is_refused_saying_why_and_what_to_do(zoo, sd1_gguf, tmp_path):
    with pytest.raises(UnsupportedError, match="re-quantising") as caught:
        bake(sd1_gguf, [(zoo["sd1-kohya-lora"].path, 0.8)], tmp_path / "out.safetensors")
    assert "bake into the original safetensors and quantise" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_bake_into_a_gguf_is_one_error_line_from_the_cli(zoo, sd1_gguf, tmp_path):
    result = cli("bake", "--base", sd1_gguf, zoo["sd1-kohya-lora"].path, "-o", tmp_path / "out.safetensors")
    one_error_line(result, str(sd1_gguf), "GGUF", "quantised")


@pytest.mark.parametrize("which", ["base", "tuned"])
def test_extract_from_a_gguf_is_refused_naming_it(zoo, sd1_gguf, tmp_path, which):
    pair = {"base": zoo["sd1-single"].path, "tuned": zoo["sd1-single"].path, which: sd1_gguf}
    with pytest.raises(UnsupportedError, match="quantisation error") as caught:
        extract(pair["base"], pair["tuned"], tmp_path / "out.safetensors", rank=4)
    assert str(sd1_gguf) in str(caught.value)
