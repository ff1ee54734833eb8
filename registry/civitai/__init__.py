"""Civitai: the client (one door, its backoff and its failures) and the sync and update checks
(what a version's JSON records is :mod:`loradex.registry.services.civitai_records`, which scan
also uses for the sidecars it reads). A top floor beside ``hub``: may import `services`, `queries`,
`store` and `errors`."""
