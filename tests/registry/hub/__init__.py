"""Tests of registry.hub against a local fake Hub."""
