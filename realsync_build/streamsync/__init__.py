"""StreamSync: a streaming audio-visual offset classifier over a snapshot predictor.

Rooms: :mod:`.task` (classes, loss), :mod:`.data` (shards -> windows),
:mod:`.model` (snapshot predictor, streaming heads), :mod:`.train`,
:mod:`.evaluate`, :mod:`.metrics`, :mod:`.runtime` (DDP, precision, RNG state,
the row sampler), :mod:`.runlog`, :mod:`.scenario`.  Library entry points:
:func:`realsync_build.streamsync.train.run_train` and
:func:`realsync_build.streamsync.evaluate.run_evaluate`.
"""
