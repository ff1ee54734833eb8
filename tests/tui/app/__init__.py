"""Tests of tui.app: the Textual app through its pilot, and its snapshots."""
