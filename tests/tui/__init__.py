"""Tests of loradex.tui, each floor in its folder."""
