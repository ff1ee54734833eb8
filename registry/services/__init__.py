"""What a script, the CLI and the TUI call: scan, rescan, records, sidecars, verify, previews
(quick-test and record), edits, forget, the operation runner that records outputs. Imports
`queries`, `store` and `errors`, never `hub`."""
