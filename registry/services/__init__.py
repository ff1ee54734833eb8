"""What a script, the CLI and the TUI call: scan, records, sidecars, verify, previews, edits,
the operation runner that records outputs. Imports `queries`, `store` and `errors`, never `hub`."""
