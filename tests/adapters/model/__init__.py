"""Tests of adapters.model: probe, layer maps, adapter factor shapes."""
