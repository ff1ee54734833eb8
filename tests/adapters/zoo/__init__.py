"""Tests of adapters.zoo: the peers load what it writes."""
