"""The catalog's storage: SQLModel tables, the path column, opening and migrating a catalog,
where it is. Imports nothing of `loradex.registry` but `errors`."""
