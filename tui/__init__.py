"""loradex.tui."""
