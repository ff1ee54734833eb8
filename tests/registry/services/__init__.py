"""Tests of registry.services: scanning."""
