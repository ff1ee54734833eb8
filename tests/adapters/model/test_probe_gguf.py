"""probe() of GGUF checkpoints (city96's ComfyUI-GGUF denoisers): kind checkpoint, format gguf, the
GGML types as the dtype, the metadata, and the family from the tensor names and shapes by the
same evidence as the single file they were converted from. Only the header is read."""

from __future__ import annotations

import gguf
import numpy as np
import pytest

from loradex.adapters.io.gguf_header import read_gguf_header
from loradex.adapters.model.probe import probe
from tests.support.gguf_files import denoiser_gguf, write_gguf


@pytest.fixture(scope="module", params=["sd1", "sdxl"])
def converted(request, zoo, tmp_path_factory):
    """A zoo single file's denoiser as ComfyUI-GGUF converts it, and the single file."""
    family = request.param
    single = zoo[f"{family}-single"].path
    return family, single, denoiser_gguf(single, tmp_path_factory.mktemp(family) / f"{family}-Q8_0.gguf", family)


def test_a_gguf_denoiser_is_a_checkpoint_of_its_family_by_the_single_files_evidence(converted):
    family, single, path = converted
    info, whole = probe(path), probe(single)
    assert (info.kind, info.format, info.base, info.components) == ("checkpoint", "gguf", family, ["unet"])
    assert info.base_evidence and set(info.base_evidence) <= set(whole.base_evidence)
    assert info.base_claims == {"general.architecture": family} and info.base_conflict is None


def test_a_gguf_denoiser_holds_the_single_files_denoiser_layers(converted):
    _, single, path = converted
    whole = probe(single).inventory
    assert probe(path).inventory == {name: shape for name, shape in whole.items() if name.startswith("unet.")}


def test_counts_metadata_and_the_quantisation_types_most_parameters_first(converted):
    _, _, path = converted
    info = probe(path)
    reader = gguf.GGUFReader(path)
    assert info.tensors == len(reader.tensors)
    assert info.parameters == sum(int(t.n_elements) for t in reader.tensors)
    params: dict[str, int] = {}
    for t in reader.tensors:
        params[t.tensor_type.name] = params.get(t.tensor_type.name, 0) + int(t.n_elements)
    assert info.dtype == ", ".join(sorted(params, key=lambda name: -params[name]))
    assert "Q8_0" in params
    assert info.metadata == {
        "general.architecture": reader.fields["general.architecture"].contents(),
        "general.quantization_version": "2",
    }
    assert (info.safety, info.size) == ("gguf", path.stat().st_size)


def test_probing_reads_the_header_and_dequantises_nothing(converted):
    _, _, path = converted
    assert probe(path).bytes_read == read_gguf_header(path).data_offset


def test_without_a_general_architecture_the_names_alone_tell_the_family(zoo, tmp_path):
    info = probe(denoiser_gguf(zoo["sdxl-single"].path, tmp_path / "sdcpp.gguf", None))
    assert (info.base, info.base_claims) == ("sdxl", {})


def test_a_claim_the_names_do_not_contradict_names_the_family(tmp_path):
    path = write_gguf(
        tmp_path / "odd.gguf",
        {"blocks.0.weight": (np.ones((4, 32), np.float32), gguf.GGMLQuantizationType.F16)},
        arch="flux",
    )
    info = probe(path)
    assert (info.kind, info.base) == ("checkpoint", "flux")
    assert info.base_evidence == ["only the metadata claim general.architecture=flux"]


@pytest.mark.parametrize(
    ("arch", "family"), [("sd1", "sd1"), ("sdxl", "sdxl"), ("sd3", "sd3"), ("flux", "flux"), ("flux2", "flux2")]
)
def test_each_architecture_city96s_converter_writes_claims_its_family(arch, family, tmp_path):
    path = write_gguf(
        tmp_path / f"{arch}.gguf",
        {"blocks.0.weight": (np.ones((4, 32), np.float32), gguf.GGMLQuantizationType.F16)},
        arch=arch,
    )
    info = probe(path)
    assert (info.base, info.base_claims) == (family, {"general.architecture": arch})
    assert info.base_evidence == [f"only the metadata claim general.architecture={arch}"]


def test_a_claim_the_names_contradict_is_a_conflict_worded_as_a_safetensors_claims(zoo, tmp_path):
    path = denoiser_gguf(zoo["sd1-single"].path, tmp_path / "mislabelled.gguf", "sdxl")
    info = probe(path)
    assert info.base == "sd1"
    assert info.base_conflict == "metadata claims general.architecture=sdxl (sdxl) but the tensor shapes say sd1"
