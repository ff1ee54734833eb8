"""Model lines from what files say: metadata as kohya and sd-scripts write it, Civitai sidecar labels,
a checkpoint's own name; the strongest claim of the artifact's family decides, and a line never
contradicts the family. (The exact rule, a catalogued training base, is the catalog's:
tests/registry/services/test_model_lines.py.)"""

from __future__ import annotations

import pytest

from loradex.adapters.model.model_lines import (
    LINES,
    Confidence,
    Line,
    judge_line,
    line_claims,
    line_of,
    trained_on_sha256,
)
from loradex.adapters.vocabulary import Family

KOHYA_SDXL = {"ss_base_model_version": "sdxl_base_v1-0", "modelspec.architecture": "stable-diffusion-xl-v1-base/lora"}


def adapter(family: str, civitai_base: str | None = None, **metadata: str):
    return judge_line(family, line_claims(metadata, checkpoint=False, civitai_base=civitai_base))


@pytest.mark.parametrize(
    ("training_file", "line"),
    [
        ("ponyDiffusionV6XL_v6StartWithThisOne.safetensors", Line.PONY),
        ("illustriousXL_v01.safetensors", Line.ILLUSTRIOUS),
        ("noobaiXLNAIXL_epsilonPred11Version.safetensors", Line.NOOBAI),
        ("sdxl_lightning_4step.safetensors", Line.LIGHTNING),
        ("Hyper-SDXL-8steps.safetensors", Line.HYPER),
    ],
)
def test_the_training_file_kohya_names_gives_an_sdxl_adapter_its_line(training_file, line):
    verdict = adapter("sdxl", **KOHYA_SDXL, ss_sd_model_name=training_file)
    assert (verdict.line, verdict.confidence) == (line, Confidence.STRONG)
    assert verdict.evidence == [
        f"ss_sd_model_name={training_file} names {next(s.title for s in LINES if s.line == line)}"
    ]


@pytest.mark.parametrize(
    ("metadata", "line"),
    [
        ({"ss_sd_model_name": "flux1-dev.safetensors"}, Line.DEV),
        ({"ss_sd_model_name": "flux1-schnell.safetensors"}, Line.SCHNELL),
        ({"ss_sd_model_name": "flux1-kontext-dev.safetensors"}, Line.KONTEXT),
        ({"ss_sd_model_name": "flux1-krea-dev_fp8_scaled.safetensors"}, Line.KREA),
        ({"modelspec.architecture": "flux-1-schnell/lora"}, Line.SCHNELL),
        ({"modelspec.architecture": "Flux.1-dev/lora"}, Line.DEV),  # tools disagree on the spelling
    ],
)
def test_flux_adapters_get_their_line_from_the_training_file_or_the_architecture(metadata, line):
    verdict = adapter("flux", ss_base_model_version="flux1", **metadata)
    assert (verdict.line, verdict.confidence) == (line, Confidence.STRONG)


def test_a_kontext_lora_whose_architecture_says_dev_is_kontext_for_kontext_is_a_dev_derivative():
    verdict = adapter(
        "flux", ss_sd_model_name="flux1-kontext-dev.safetensors", **{"modelspec.architecture": "flux-1-dev/lora"}
    )
    assert verdict.line == Line.KONTEXT
    assert verdict.evidence[1] == "modelspec.architecture=flux-1-dev/lora names Flux.1 dev"  # agrees: no "weaker"


def test_plain_sdxl_metadata_names_no_line():
    verdict = adapter("sdxl", **KOHYA_SDXL, ss_sd_model_name="sd_xl_base_1.0.safetensors")
    assert verdict.line is None and verdict.evidence == []


@pytest.mark.parametrize(
    ("civitai", "line"),
    [
        ("Pony", Line.PONY),
        ("Illustrious", Line.ILLUSTRIOUS),
        ("NoobAI", Line.NOOBAI),
        ("SDXL Lightning", Line.LIGHTNING),
        ("SDXL Hyper", Line.HYPER),
    ],
)
def test_a_civitai_sidecar_s_base_model_names_an_sdxl_line_as_likely(civitai, line):
    verdict = adapter("sdxl", civitai, **KOHYA_SDXL)
    assert (verdict.line, verdict.confidence, verdict.evidence) == (
        line,
        Confidence.LIKELY,
        [f".civitai.info baseModel={civitai}"],
    )


@pytest.mark.parametrize(
    ("civitai", "line"),
    [("Flux.1 D", Line.DEV), ("Flux.1 S", Line.SCHNELL), ("Flux.1 Kontext", Line.KONTEXT), ("Flux.1 Krea", Line.KREA)],
)
def test_a_civitai_sidecar_s_base_model_names_a_flux_line(civitai, line):
    assert adapter("flux", civitai).line == line


def test_metadata_outranks_the_sidecar_which_is_kept_as_weaker_evidence():
    verdict = adapter("sdxl", "Illustrious", ss_sd_model_name="ponyDiffusionV6XL.safetensors")
    assert (verdict.line, verdict.confidence) == (Line.PONY, Confidence.STRONG)
    assert verdict.evidence[1] == "weaker evidence for Illustrious: .civitai.info baseModel=Illustrious"


def test_a_line_of_another_family_is_ignored_and_said_so():
    verdict = adapter("sdxl", "Flux.1 D", ss_sd_model_name="flux1-dev.safetensors")
    assert verdict.line is None
    assert verdict.evidence[0] == (
        "ignored: ss_sd_model_name=flux1-dev.safetensors names Flux.1 dev, a line of flux, but the file is sdxl"
    )


def test_an_sdxl_line_named_after_an_ignored_flux_one_still_decides():
    verdict = adapter("sdxl", "Pony", ss_sd_model_name="flux1-dev.safetensors")
    assert (verdict.line, verdict.confidence) == (Line.PONY, Confidence.LIKELY)
    assert verdict.evidence[0] == ".civitai.info baseModel=Pony" and verdict.evidence[1].startswith("ignored: ")


def test_a_file_of_unknown_family_gets_no_line():
    verdict = adapter("unknown", ss_sd_model_name="ponyDiffusionV6XL.safetensors")
    assert verdict.line is None and verdict.evidence[0].endswith("but the file's family is not known")


def test_noobai_is_taken_over_illustrious_its_parent():
    verdict = adapter("sdxl", ss_sd_model_name="NoobAI-XL-v1.1 (Illustrious based).safetensors")
    assert (verdict.line, verdict.confidence) == (Line.NOOBAI, Confidence.STRONG)  # naming its parent is no conflict
    assert verdict.evidence == ["ss_sd_model_name=NoobAI-XL-v1.1 (Illustrious based).safetensors names NoobAI"]


def test_a_name_that_names_two_unrelated_lines_is_the_first_and_only_likely():
    verdict = judge_line("sdxl", line_claims({}, checkpoint=True, name="ponyIllustriousMix_v2"))
    assert (verdict.line, verdict.confidence) == (Line.ILLUSTRIOUS, Confidence.LIKELY)
    assert verdict.evidence == ["the file name ponyIllustriousMix_v2 names Illustrious (also names Pony)"]


def test_a_checkpoint_is_named_by_its_own_title_before_its_file_name():
    claims = line_claims(
        {"modelspec.title": "Pony Diffusion V6 XL", "modelspec.architecture": "stable-diffusion-xl-v1-base"},
        checkpoint=True,
        name="waiIllustriousSDXL_v110",
    )
    verdict = judge_line("sdxl", claims)
    assert (verdict.line, verdict.confidence) == (Line.PONY, Confidence.STRONG)
    assert (
        verdict.evidence[1]
        == "weaker evidence for Illustrious: the file name waiIllustriousSDXL_v110 names Illustrious"
    )


def test_a_checkpoint_s_file_name_is_likely_at_best():
    verdict = judge_line("sdxl", line_claims({}, checkpoint=True, name="ponyDiffusionV6XL_v6StartWithThisOne"))
    assert (verdict.line, verdict.confidence) == (Line.PONY, Confidence.LIKELY)


def test_an_adapter_s_own_name_and_title_are_never_read():
    """A LoRA named "pony" is as likely a LoRA of ponies; its modelspec.title is its own."""
    claims = line_claims({"modelspec.title": "my pony style"}, checkpoint=False, name="pony_style")
    assert claims == []


def test_hyperrealism_is_not_hyper_sd():
    assert judge_line("sdxl", line_claims({}, checkpoint=True, name="hyperRealism_v3")).line is None


@pytest.mark.parametrize(
    ("spelling", "line"),
    [
        ("pony", Line.PONY),
        ("Illustrious", Line.ILLUSTRIOUS),
        ("SDXL Lightning", Line.LIGHTNING),
        ("sdxl-hyper", Line.HYPER),
        ("Flux.1 D", Line.DEV),
        ("flux1-dev", Line.DEV),
        ("Flux.1 Kontext", Line.KONTEXT),
        ("krea", Line.KREA),
    ],
)
def test_users_spell_a_line_as_they_know_it(spelling, line):
    assert line_of(spelling) == line


def test_a_spelling_of_no_line_is_none():
    assert line_of("sdxl") is None and line_of("ponyy") is None


def test_every_line_has_one_rule_and_belongs_to_sdxl_or_flux():
    assert [spec.line for spec in LINES] == sorted(Line, key=[spec.line for spec in LINES].index)
    assert len(LINES) == len(Line) and {spec.family for spec in LINES} == {Family.SDXL, Family.FLUX}


def test_kohya_s_training_base_hash_is_read_as_lowercase_hex():
    sha = "AB" * 32
    assert trained_on_sha256({"ss_new_sd_model_hash": sha}) == sha.lower()
    assert trained_on_sha256({"ss_new_sd_model_hash": "0x" + sha}) == sha.lower()
    assert trained_on_sha256({"ss_new_sd_model_hash": "e3b0c442"}) is None  # the old 8-hex hash names no file
    assert trained_on_sha256({}) is None
