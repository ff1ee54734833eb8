"""Civitai: the client (one door, its backoff and its failures), what a version's JSON records,
and the sync and update checks. A top floor beside ``hub``: may import `services`, `queries`,
`store` and `errors`."""
