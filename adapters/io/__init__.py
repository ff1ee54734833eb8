"""Reading and writing files safely. Imports nothing above `adapters.io` (only the root modules).

* :mod:`.header` -- the safetensors header codec: dtype codes and sizes, reading and validating
  headers, :class:`~.header.TensorInfo`; :mod:`.header_encoding`, planning and encoding them;
  :mod:`.bounded_json`, JSON from files parsed within bounds. No torch.
* :mod:`.reader` -- :class:`~.reader.TensorFile`, the lazy reader with byte accounting of any
  file whose header gives byte ranges (safetensors, GGUF), and :class:`~.reader.SafetensorsFile`.
  torch is imported only when a tensor is built.
* :mod:`.torch_dtypes` -- safetensors dtype codes <-> torch dtypes (torch imported on call).
* :mod:`.writer` -- :class:`~.writer.SafetensorsWriter`, the streaming writer, and
  :func:`~.writer.save_tensors`; its write-behind and hashing threads are in :mod:`.writer_threads`.
* :mod:`.atomic` -- atomic outputs shared by every operation that writes: hidden locked temps,
  reclaiming those of killed writers, fsync, refusing to overwrite inputs, errors in words.
* :mod:`.sources` -- :class:`~.sources.WeightSource`, the flat ``key -> tensor`` view of any
  weights, and :class:`~.sources.TensorFileSource`, the one over a :class:`~.reader.TensorFile`;
  :mod:`.weights` -- :func:`~.weights.open_weights`, which picks the implementation
  (safetensors files and folders there, torch pickles in :mod:`.pickles`, loaded
  ``weights_only``, their members' imports listed by :mod:`.pickle_globals`).
* :mod:`.gguf_header` -- the GGUF header read within bounds (the ``gguf`` package's tables, not
  its reader; tensors as :class:`~.header.TensorInfo`); :mod:`.gguf_source` --
  :class:`~.gguf_source.GGUFSource`, a GGUF file as a weight source (quantised tensors
  dequantised by the ``gguf`` package when read).
* :mod:`.opening` -- opening input files, regular files only; :mod:`.hashing` -- every hash users
  look files up by, in one pass or while writing (:class:`~.hashing.StreamHasher`);
  :mod:`.embedded_hashes` -- a header's own claims about its tensor hash, checked.

This package re-exports nothing, so that importing one part never loads another (the reader
and the header must stay torch-free for probing and listing).

Why not just use the ``safetensors`` library? It is fine for loading, and files written here
round-trip through it (the tests check that), but loradex needs three things it does not give:

* **byte accounting** -- :attr:`~.reader.SafetensorsFile.bytes_read` counts exactly the header
  plus the tensor bytes actually read, so callers (and tests) can prove that inspecting a 6 GB
  checkpoint only touched its header;
* **strict validation with one-line errors** -- every malformed header, bad offset or truncated
  data section becomes a :class:`~loradex.adapters.errors.CorruptFileError` that names the file
  and the problem in one line, ready for a front end to print;
* **a writer with bounded memory** -- ``safetensors.torch.save_file`` needs every tensor in
  memory at once. Since all sizes are known from (name, dtype, shape) alone,
  :class:`~.writer.SafetensorsWriter` writes the header first and then streams tensors one at a
  time, into a temp file that only replaces the target on
  :meth:`~.writer.SafetensorsWriter.commit`.
"""
