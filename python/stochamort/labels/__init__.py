"""Label store: noisy attributions of a whole dataset, generated in chunks and kept on disk.

:func:`generate_labels` runs an oracle (:mod:`stochamort.oracles`) over a dataset ``chunk_size``
points at a time and writes each chunk as soon as it is done; :class:`LabelStore` reads them back
as an :class:`~stochamort.results.Estimate` or as a torch ``Dataset`` for amortized training::

    store = generate_labels(MaskedModel(model, BaselineMasker()), x, KernelSHAP(budget=512), "labels/")
    est = store.load()                       # values, std_errors, n_evaluations of every point
    data = store.dataset(x)                  # (x_i, label_i) pairs

Generation is **resumable**: a run stopped at any moment (Ctrl-C, a crash, SIGKILL, a power cut)
is continued by calling :func:`generate_labels` again with the same arguments; finished chunks are
kept and the others computed. It is **deterministic**: chunk ``[start, stop)`` is estimated with
``oracle(game, seed=seed, point_offset=start)``, and oracles draw every point's samples from
(seed, global point index), so the samples are those of one oracle call over all points whatever
the chunk size, and a resumed run gives exactly the labels of an uninterrupted one (the chunk
boundaries are fixed by the manifest). Labels from *different* chunk sizes agree bit for bit only
if the model's output for an input does not depend on the other inputs of its forward batch, which
BLAS and GPU kernels do not promise (they may differ in the last bits: e.g. float64 matmuls on CPU
agree for chunk sizes that are multiples of 8 but not for 7).

On-disk format (version 1)
--------------------------
A store is a directory holding:

``manifest.json``
    Written once, just before the first chunk file (once the oracle has run on the first chunk, so
    that settings the oracle refuses leave no store behind). Keys: ``format`` (``"stochamort-labels"``),
    ``format_version`` (1), ``stochamort_version``, ``oracle`` (the oracle's
    :meth:`~stochamort.oracles.Oracle.settings`: its class name under ``"oracle"`` and its fields),
    ``seed``, ``n_points``, ``n_players``, ``n_outputs``, ``chunk_size``, ``n_chunks``,
    ``chunk_files`` (the file name pattern), ``x_shape``, ``x_dtype`` and ``x_sha256`` (a
    fingerprint of the inputs: SHA-256 of their dtype, shape and bytes in C order),
    ``model_sha256`` (for a :class:`~stochamort.games.MaskedModel`: SHA-256 of an ``nn.Module``'s
    ``state_dict``, or for any other model — scikit-learn, a numpy function — of its outputs on the
    first 64 inputs rounded to 10 significant digits; null for other games), ``game_sha256`` (of
    the whole game, for every kind of game: its values on the first 8 points for the empty, the
    full and 14 fixed random coalitions, rounded to 6 significant digits, so that another masker,
    baseline, background, output transform or feature grouping is refused too), ``game_id`` (the
    caller's own name for the game, or null) and ``created`` (UTC,
    ISO 8601). A run resumes a store only if all of these but ``created`` (and the derived
    ``n_chunks`` and ``chunk_files``) agree; otherwise it names the fields that differ.
``chunk-00000.npz``, ``chunk-00001.npz``, ...
    One file per chunk ``k``, covering points ``[k * chunk_size, min(n_points, (k + 1) * chunk_size))``;
    at least five digits (``chunk-{k:05d}.npz``). Plain ``numpy.savez`` archives (with fixed member timestamps, so the same labels give the same bytes) with ``values`` and
    ``std_errors`` (float64, ``(m, n_players, n_outputs)``), ``n_evaluations`` (int64, ``(m,)``),
    ``points`` (int64, ``(m,)``, the global indices of the chunk's points) and, for oracles that
    return them, ``extra_<name>`` arrays (e.g. ``extra_intercept`` for LIME, ``extra_dof`` for the
    degrees of freedom of the standard errors, ``(m,)`` or per cell for stratified designs), one row
    per point.

Files are written to a hidden temporary file in the same directory (``.<name>.<random>.tmp``),
flushed to disk, then renamed into place, so a chunk is either complete or absent; temporary files
left by a killed run are removed when the run is resumed (and ignored by readers). Other hidden
files are ignored. A generating process holds an advisory lock on the directory (``flock``), so two
runs never write into one store. Reading needs numpy alone::

    import json, numpy as np
    manifest = json.load(open("labels/manifest.json"))
    chunks = [np.load(f"labels/chunk-{k:05d}.npz") for k in range(manifest["n_chunks"])]
    values = np.concatenate([c["values"] for c in chunks])      # (n_points, n_players, n_outputs)
"""

from stochamort.labels.format import FORMAT, FORMAT_VERSION, LabelStoreError
from stochamort.labels.store import GameSource, LabelStore, generate_labels

__all__ = ["LabelStore", "LabelStoreError", "generate_labels", "GameSource", "FORMAT", "FORMAT_VERSION"]
