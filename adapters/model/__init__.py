"""Knowing files: families, layer maps, keys, probing. Imports only `adapters.io` and the root modules.

* :mod:`.architectures` -- the families' real architectures (built on the meta device);
  :mod:`.layermap` -- the layer-name maps derived from them, with single-file names from
  :mod:`.single_file_names`; :mod:`.blocks` -- each family's block labels, their order and groups;
  :mod:`.keys` -- adapter key syntax.
* :mod:`.probe` -- what a file or folder is (:class:`~.artifact.ArtifactInfo`, in :mod:`.artifact`),
  judged by :mod:`.adapter_layers` (an adapter's stems and factors), :mod:`.base_evidence` (which
  base) and :mod:`.training_metadata` (trigger words, tag counts); a GGUF checkpoint is read as
  the single file it came from, plus what :mod:`.gguf_checkpoint` adds.
* :mod:`.checkpoint` -- where a layer lives in a base checkpoint.
"""
