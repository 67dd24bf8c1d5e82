"""realsync: build RealSync-style audio-visual synchronisation datasets.

Stages read one Parquet manifest and write another under a dataset root
(see :mod:`realsync_build.core.root`); the CLI in :mod:`realsync_build.cli` is a
thin layer over the functions each stage module exposes.
"""

__version__ = "0.1.0"
