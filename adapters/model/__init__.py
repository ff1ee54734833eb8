"""Knowing files: families, layer maps, keys, probing. Imports only `adapters.io` and the root modules.

* :mod:`.architectures` -- the families' real architectures (built on the meta device);
  :mod:`.layermap` -- the layer-name maps derived from them; :mod:`.keys` -- adapter key syntax.
* :mod:`.probe` -- what a file or folder is (:class:`~.artifact.ArtifactInfo`, in :mod:`.artifact`).
* :mod:`.checkpoint` -- where a layer lives in a base checkpoint.
"""
