"""Tests of loradex.registry, each floor in its folder."""
