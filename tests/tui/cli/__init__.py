"""Tests of tui.cli: every command as a user runs it."""
