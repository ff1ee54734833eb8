"""Tests of registry.store: opening, migrating and protecting a catalog, stored paths."""
