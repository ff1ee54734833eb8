"""Tests of adapters.generate: the workbench, its records and CLIP scores."""
