"""Reading the catalog: SQL over a `reading.Reader`, returning plain rows (and the ORM rows of
`orm`). Imports only `store` and `errors` of `loradex.registry`. Kept light: no re-exports, so
the read-only commands never import SQLAlchemy/SQLModel through it."""
