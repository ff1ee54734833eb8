"""GGUF checkpoints (ComfyUI-GGUF's quantised denoisers) in a catalog: a scan finds ``.gguf`` files
and records them as checkpoints of their family with their GGML types, and a LoRA's fit is judged
against the layers they hold."""

from __future__ import annotations

import shutil

from tests.support.gguf_files import denoiser_gguf
from tests.support.ops_cli import cli, cli_json, scanned


def test_a_scan_catalogues_gguf_checkpoints_with_family_format_and_types(zoo, tmp_path):
    folder = tmp_path / "unet"
    folder.mkdir()
    denoiser_gguf(zoo["sdxl-single"].path, folder / "tiny-sdxl-Q8_0.gguf", "sdxl")
    row = scanned(folder, "tiny-sdxl-Q8_0", tmp_path / "catalog.db")
    assert (row.status, row.kind, row.format, row.base) == ("ok", "checkpoint", "gguf", "sdxl")
    assert row.dtype and "Q8_0" in row.dtype.split(", ")
    assert row.safety == "gguf" and row.base_claims == {"general.architecture": "sdxl"}


def test_a_loras_denoiser_layers_fit_the_gguf_of_its_family_and_not_another(zoo, tmp_path):
    """The GGUF holds the denoiser alone: the LoRA's 72 UNet layers fit it, its 12 text-encoder
    layers are for the text encoder loaded beside it, so they are not judged against it."""
    folder = tmp_path / "lib"
    folder.mkdir()
    denoiser_gguf(zoo["sd1-single"].path, folder / "sd1-Q8_0.gguf", "sd1")
    denoiser_gguf(zoo["sdxl-single"].path, folder / "sdxl-Q8_0.gguf", "sdxl")
    shutil.copy2(zoo["sd1-kohya-lora"].path, folder / "style.safetensors")
    catalog = str(tmp_path / "catalog.db")
    assert cli("scan", folder, catalog=catalog).exit_code == 0
    checked = cli("check", "style", "--base", "sd1-Q8_0", catalog=catalog).stdout
    assert "72/72 layers fit sd1-Q8_0: 12 text-encoder layers not in this file (compatible)" in checked

    def fitting(base: str) -> set[str]:
        listed = cli_json("list", "--fits", base, catalog=catalog)["artifacts"]
        return {a["name"] for a in listed}

    assert "style" in fitting("sd1-Q8_0") and "style" not in fitting("sdxl-Q8_0")
