"""SparseSync, written for this project, loading the public checkpoints (see docs/sparsesync.md)."""

from realsync_build.streamsync.sparsesync.load import load_sparsesync, sizes_from_reference_config
from realsync_build.streamsync.sparsesync.net import SparseSyncNet, SparseSyncSizes

__all__ = ["SparseSyncNet", "SparseSyncSizes", "load_sparsesync", "sizes_from_reference_config"]
