"""The tensor hash a header claims for itself (kohya's ``sshs_model_hash``, SAI's
``modelspec.hash_sha256``), checked against the data's."""

from __future__ import annotations

from loradex.adapters.io.embedded_hashes import HashMismatch, hash_mismatches

TENSOR_HASH = "0123456789abcdef" * 4


def test_claims_that_match_the_tensor_hash_are_no_mismatch():
    # modelspec writes "0x" in front; some tools write upper case.
    metadata = {"sshs_model_hash": TENSOR_HASH.upper(), "modelspec.hash_sha256": "0x" + TENSOR_HASH}
    assert hash_mismatches(metadata, TENSOR_HASH) == []


def test_a_claim_the_data_does_not_bear_out_is_named_with_both_hashes():
    other = "f" * 64
    assert hash_mismatches({"sshs_model_hash": other, "modelspec.hash_sha256": "0x" + TENSOR_HASH}, TENSOR_HASH) == [
        HashMismatch("sshs_model_hash", other, TENSOR_HASH)
    ]
    said = str(HashMismatch("sshs_model_hash", other, TENSOR_HASH))
    assert "sshs_model_hash" in said and other[:12] in said and TENSOR_HASH[:12] in said


def test_no_claim_or_no_tensor_hash_checks_nothing():
    assert hash_mismatches({"sshs_model_hash": "", "ss_output_name": "cat"}, TENSOR_HASH) == []
    assert hash_mismatches({"sshs_model_hash": "f" * 64}, None) == []
