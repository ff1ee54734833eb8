"""Block labels per family: which blocks each family has (from its layer map), their network order,
their groups, and how they are written in one line."""

from __future__ import annotations

import pytest

from loradex.adapters.model.blocks import block_group, block_order, blocks_text, family_blocks
from loradex.adapters.model.layermap import block_label


@pytest.mark.parametrize(
    ("family", "size", "text"),
    [
        ("sd1", "", "BASE, IN00–IN11, MID, OUT00–OUT11, TE.00–TE.11"),
        ("sdxl", "", "BASE, IN00–IN08, MID, OUT00–OUT08, TE.00–TE.11, TE2, TE2.00–TE2.31"),
        ("flux", "", "IN, D0–D18, S0–S37, OUT, TE.00–TE.11, TE3.00–TE3.23"),
        ("sd3", "medium", "IN, J0–J23, OUT, TE, TE.00–TE.11, TE2, TE2.00–TE2.31, TE3.00–TE3.23"),
        ("sd3", "large", "IN, J0–J37, OUT, TE, TE.00–TE.11, TE2, TE2.00–TE2.31, TE3.00–TE3.23"),
        ("flux2", "klein-4b", "IN, D0–D4, S0–S19, OUT"),
    ],
)
def test_each_family_has_the_blocks_of_its_architecture_in_network_order(family, size, text):
    assert blocks_text(family_blocks(family, size)) == text


def test_labels_sort_by_their_place_in_the_network_not_as_text():
    labels = ["TE3.01", "D10", "OUT", "S0", "D2", "TE.00", "IN"]
    assert sorted(labels, key=block_order) == ["IN", "D2", "D10", "S0", "OUT", "TE.00", "TE3.01"]
    unet = ["TE2.00", "OUT10", "MID", "IN10", "OUT02", "IN02", "BASE", "TE.05"]
    assert sorted(unet, key=block_order) == ["BASE", "IN02", "IN10", "MID", "OUT02", "OUT10", "TE.05", "TE2.00"]


@pytest.mark.parametrize(
    ("label", "group"),
    [("TE2.05", "TE2"), ("TE.03", "TE"), ("TE3", "TE3"), ("IN04", "IN"), ("D10", "D"), ("MID", "MID"), ("IN", "IN")],
)
def test_a_label_belongs_to_the_group_its_kind_names(label, group):
    assert block_group(label) == group


@pytest.mark.parametrize(
    ("canonical", "component", "family", "label"),
    [
        ("transformer.transformer_blocks.3.attn.to_q", "transformer", "flux", "D3"),
        ("transformer.transformer_blocks.3.attn.to_q", "transformer", "sd3", "J3"),
        ("transformer.single_transformer_blocks.37.proj_mlp", "transformer", "flux", "S37"),
        ("transformer.x_embedder", "transformer", "flux", "IN"),
        ("transformer.time_text_embed.timestep_embedder.linear_1", "transformer", "sd3", "IN"),
        ("transformer.norm_out.linear", "transformer", "flux", "OUT"),
        ("transformer.proj_out", "transformer", "sd3", "OUT"),
        ("text_encoder_2.encoder.block.5.layer.0.SelfAttention.q", "text_encoder_2", "flux", "TE3.05"),
        ("text_encoder_3.encoder.block.5.layer.0.SelfAttention.q", "text_encoder_3", "sd3", "TE3.05"),
        ("text_encoder_2.text_model.encoder.layers.5.mlp.fc1", "text_encoder_2", "sdxl", "TE2.05"),
    ],
)
def test_a_dits_layers_are_labelled_as_lora_block_weight_names_their_blocks(canonical, component, family, label):
    assert block_label(canonical, component, family=family) == label
