"""Block weights as users type them (labels, LoRA Block Weight presets and vectors), resolved for an
adapter's family: labels are the family's own, a vector's positions become loradex labels, and
whatever does not fit the family is refused in one line naming what it has."""

from __future__ import annotations

import pytest

from loradex.adapters.errors import IncompatibleError
from loradex.adapters.ops.block_presets import LAYOUTS, PRESETS
from loradex.adapters.ops.block_weights import block_multiplier, block_multipliers
from loradex.adapters.ops.options import parse_block_weights

SD1_OUTALL = "1,0,0,0,0,0,0,0,1,1,1,1,1,1,1,1,1"


def test_the_presets_are_lora_block_weights_own():
    """hako-mikan's defaults (BASE, IN01, IN02, IN04, IN05, IN07, IN08, M00, OUT03–OUT11) and Inspire
    Pack's SDXL ones (BASE, IN04, IN05, IN07, IN08, M00, OUT00–OUT05)."""
    assert PRESETS["sd"]["OUTALL"] == tuple(parse_block_weights(SD1_OUTALL))
    assert PRESETS["sd"]["INS"] == (1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    assert PRESETS["sd"]["MIDD"] == (1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0)
    assert PRESETS["sdxl"]["OUTALL"] == (1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1)
    assert {len(v) for v in PRESETS["sd"].values()} == {17} and {len(v) for v in PRESETS["sdxl"].values()} == {12}
    assert LAYOUTS[17][7] == "M00" and LAYOUTS[12][5] == "M00" and len(LAYOUTS[61]) == 61


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("IN=1,M00=0.5,D00=0", {"IN": 1.0, "MID": 0.5, "D0": 0.0}),
        ("outall", "OUTALL"),
        ("sdxl-OutAll", "SDXL-OUTALL"),
        (",".join(["0.5"] * 12), [0.5] * 12),
    ],
)
def test_block_weights_are_labels_a_preset_or_a_vector(text, parsed):
    assert parse_block_weights(text) == parsed


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("1,0,1", "a block-weight vector has 12, 17, 20, 26 or 61 numbers"),
        ("LEGS", "unknown block-weight preset 'LEGS'; presets: NONE, ALL, INS"),
        ("1,0,R," + ",".join(["1"] * 14), "'R' is not a number"),
    ],
)
def test_what_no_family_could_read_is_refused_before_anything_is_read(text, words):
    with pytest.raises(ValueError, match=words):
        parse_block_weights(text)


@pytest.mark.parametrize(
    ("spec", "family", "words"),
    [
        ({"IN04": 1.0}, "flux", "block IN04 is not a flux block; flux blocks: IN, D0–D18, S0–S37, OUT, TE.00"),
        ({"D3": 1.0}, "sdxl", "block D3 is not a sdxl block; sdxl blocks: BASE, IN00–IN08, MID, OUT00–OUT08"),
        ({"OUT10": 1.0}, "sdxl", "OUT00–OUT08"),
        ({"TE2": 0.0}, "sd1", "(groups: IN, OUT, TE)"),
    ],
)
def test_a_label_the_family_has_not_is_refused_naming_the_familys_labels(spec, family, words):
    with pytest.raises(IncompatibleError, match=words.replace("(", r"\(").replace(")", r"\)")):
        block_multipliers(spec, family)


def test_a_label_refused_for_one_size_names_the_blocks_of_that_size():
    with pytest.raises(IncompatibleError, match="J30 is not a sd3 medium block; sd3 medium blocks: IN, J0–J23, OUT"):
        block_multipliers({"J30": 1.0}, "sd3", "medium")
    assert block_multipliers({"J30": 1.0}, "sd3", "large") == {"J30": 1.0}


def test_an_sd1_vector_weighs_the_text_encoder_by_base_and_zeroes_the_blocks_it_does_not_name():
    weights = block_multipliers(parse_block_weights(SD1_OUTALL), "sd1")
    assert weights["TE"] == 1.0 and "TE2" not in weights and "BASE" not in weights  # LBW leaves those at 1
    assert [weights[f"IN{i:02d}"] for i in (0, 1, 2, 3)] == [0.0] * 4 and weights["MID"] == 0.0
    assert [weights[f"OUT{i:02d}"] for i in range(12)] == [0.0] * 3 + [1.0] * 9


def test_the_sdxl_layouts_name_sdxls_blocks():
    weights = block_multipliers("sdxl-outall", "sdxl")
    assert (weights["TE"], weights["TE2"]) == (1.0, 1.0)
    assert [weights[f"OUT{i:02d}"] for i in range(9)] == [1.0] * 6 + [0.0] * 3
    assert {weights[f"IN{i:02d}"] for i in range(9)} == {0.0}
    full = block_multipliers([float(i) for i in range(26)], "sdxl")  # LBW's full layout: IN09–IN11 have no block
    assert (full["IN08"], full["MID"], full["OUT08"]) == (9.0, 13.0, 22.0) and "IN09" not in full


def test_a_flux_vector_weighs_clip_t5_the_embedders_each_block_and_the_head():
    vector = [float(i) for i in range(61)]
    weights = block_multipliers(vector, "flux")
    assert (weights["TE"], weights["TE3"], weights["IN"], weights["D0"], weights["D18"]) == (0, 1, 2, 3, 21)
    assert (weights["S0"], weights["S37"], weights["OUT"]) == (22, 59, 60)
    assert block_multipliers("FLUXALL", "flux")["S12"] == 1.0


@pytest.mark.parametrize(
    ("spec", "family", "words"),
    [
        (SD1_OUTALL, "sdxl", "a block-weight vector for sdxl has 12, 20 or 26 numbers, not 17"),
        ("1,1,1,1,1,1,1,1,1,1,1,1", "sd1", "a block-weight vector for sd1 has 17 or 26 numbers, not 12"),
        ("INS", "sdxl", "preset INS is for SD1/SD2 LoRAs; sdxl presets: NONE, ALL, INALL, MIDALL, OUTALL"),
        ("OUTALL", "flux", "preset OUTALL is for SD1/SD2 and SDXL LoRAs; flux presets: FLUXALL"),
        ("SDXL-OUTALL", "sd1", "preset SDXL-OUTALL is for SDXL LoRAs; sd1 presets: NONE"),
        ("OUTALL", "sd3", "preset OUTALL is for SD1/SD2 and SDXL LoRAs; sd3 has no LoRA Block Weight presets"),
        (",".join(["1"] * 61), "flux2", "flux2 has no LoRA Block Weight vector layout"),
    ],
)
def test_a_vector_or_preset_for_another_family_is_refused_naming_what_fits(spec, family, words):
    with pytest.raises(IncompatibleError, match=words):
        block_multipliers(spec, family)


def test_a_layer_takes_its_labels_weight_else_its_groups_else_one():
    weights = {"TE2": 0.0, "IN04": 0.5, "IN": 2.0}
    assert [block_multiplier(b, weights) for b in ("TE2.05", "TE.05", "IN04", "IN05", "MID")] == [0, 1, 0.5, 2, 1]
