"""Tests of adapters.io: reading, writing, hashing, bounded parsing."""
