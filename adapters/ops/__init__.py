"""LoRA math and the operations. Imports only `adapters.model`, `adapters.io` and the root modules.

From the bottom up (the import-linter contract in pyproject.toml keeps it so):

* :mod:`.block_presets` -- LoRA Block Weight's vector layouts and presets, as data;
  :mod:`.options` -- the options' values and text forms (no pydantic, for the CLI's start-up);
  :mod:`.recipe` -- recipes as data, one pydantic model per op on a common base;
  :mod:`.registry` -- the operations by name (model + runner), filled by the :mod:`.verbs`;
  :mod:`.recipe_sources` -- recipes from a TOML file, the command line, an output's metadata.
* :mod:`.lowrank` -- deltas, low-rank SVD, truncation; :mod:`.factors` -- a layer's factors, the
  DoRA delta, block labels, the one kohya writer; :mod:`.block_weights` -- block weights resolved
  for an adapter's family.
* The work, importing :mod:`.factors` and never each other: :mod:`.mix` (and resize),
  :mod:`.bake`, :mod:`.extract`, :mod:`.convert`, :mod:`.inspection`.
* :mod:`.verbs` -- one module per operation (its recipe model and runner);
  :mod:`.runner` -- the one runner; :mod:`.rebuild` re-runs the recipe embedded in an output.
"""
