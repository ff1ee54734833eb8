"""Tests of the whole: start-up cost, import contracts, hostile files, user folders, the demo, packaging."""
