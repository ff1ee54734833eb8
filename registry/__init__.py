"""loradex.registry."""
