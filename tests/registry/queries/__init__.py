"""Tests of registry.queries: the read path's SQL and rows."""
