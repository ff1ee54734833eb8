"""loradex's tests, mirrored per floor; shared helpers in tests.support, fixtures in conftest.py."""
