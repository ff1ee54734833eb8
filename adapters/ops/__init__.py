"""LoRA math and the operations. Imports only `adapters.model`, `adapters.io` and the root modules.

* :mod:`.lowrank` -- deltas, low-rank SVD, truncation; :mod:`.factors` -- a layer's factors, the
  DoRA delta, block labels, the one kohya writer.
* The operations, importing :mod:`.factors` and never each other: :mod:`.mix` (and resize),
  :mod:`.bake`, :mod:`.extract`, :mod:`.convert`, :mod:`.inspection`; :mod:`.rebuild` re-runs
  the recipe embedded in an output.
* :mod:`.recipe` -- recipes as data (TOML files, command-line text, the JSON embedded in outputs);
  :mod:`.runner` -- the one runner; :mod:`.options` -- the option tables.
"""
