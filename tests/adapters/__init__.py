"""Tests of loradex.adapters; the root modules (words, vocabulary) here, each floor in its folder."""
