"""loradex.registry: the catalog, on four floors that import only downward: `store` (tables,
opening, migrations) < `queries` (reading) < `services` (what the front ends call) < `hub` (the
Hugging Face Hub); `errors` lies under them all."""
