"""StreamSync models: the snapshot-predictor interface, the SparseSync-style default, streaming heads."""

from realsync_build.streamsync.model.config import CONFIGS, ModelConfig, base_config, make_config, tiny_config
from realsync_build.streamsync.model.snapshot import (
    SNAPSHOT_PREDICTORS,
    SnapshotOutput,
    SnapshotPredictor,
    SparseSyncPredictor,
    make_snapshot,
)
from realsync_build.streamsync.model.stream import LSTMHead, StreamSync, TransformerHead, make_head

__all__ = [
    "CONFIGS",
    "ModelConfig",
    "base_config",
    "make_config",
    "tiny_config",
    "SNAPSHOT_PREDICTORS",
    "SnapshotOutput",
    "SnapshotPredictor",
    "SparseSyncPredictor",
    "make_snapshot",
    "LSTMHead",
    "StreamSync",
    "TransformerHead",
    "make_head",
]
