"""Tests of tui.output: what reaches the terminal."""
