"""Tests of adapters.ops: the LoRA math and every operation, against peers as oracles."""
