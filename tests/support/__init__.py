"""Helpers the tests share: fakes, oracles, catalog builders, CLI runners, the user-folder guard."""
