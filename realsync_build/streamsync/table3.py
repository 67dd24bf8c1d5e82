"""Table 3 of the paper from ``realsync evaluate``: which rows a checkpoint can fill.

Rows (accuracy etc. on the same fixed segments), from evaluate's method keys:

- ``pretrained_sparsesync`` <- ``pretrained``: a public SparseSync checkpoint without
  fine-tuning, its best iteration (the paper's "Pt SparseSync", 0.207 acc on RealSync);
  filled by ``evaluate --checkpoint <public file or name>`` or ``--pretrained NAME``;
- ``finetuned_snapshot`` <- ``snapshot``: a fine-tuned snapshot predictor (a StreamSync
  run's), best iteration ("Ft SparseSync", 0.381);
- ``apa`` <- ``apa``: average of the snapshot probabilities over the iterations ("APA
  SparseSync", 0.580 over 18 windows), for whichever snapshot predictor was evaluated;
- ``streamsync`` <- ``streamsync``: the streaming head at the last iteration.

A bare SparseSync checkpoint has no streaming head: only its pretrained and APA rows are
filled, and ``streamsync`` is absent from metrics.json rather than reported from an
untrained head.
"""

from __future__ import annotations

from pathlib import Path

from realsync_build.models.safe_load import safe_load
from realsync_build.streamsync.model import StreamSync, base_config

SNAPSHOT_ONLY = "sparsesync"  # kind of a checkpoint without a streaming head
STREAMSYNC = "streamsync"


def is_public_sparsesync(path: str | Path) -> bool:
    """A public SparseSync file: ``args`` + ``model``, no realsync ``model_config``."""
    from realsync_build.models.registry import REGISTRY

    if str(path) in REGISTRY:
        return REGISTRY[str(path)].kind == "sync-predictor"
    try:
        ck = safe_load(path, "checkpoint")
    except Exception:  # noqa: BLE001 - unreadable files are reported by the regular loader
        return False
    return isinstance(ck, dict) and "args" in ck and "model" in ck and "model_config" not in ck


def model_for_evaluation(checkpoint: str | Path) -> tuple[StreamSync, dict, str]:
    """-> (model, checkpoint dict, kind); a public SparseSync file becomes the snapshot predictor of a base StreamSync."""
    from realsync_build.streamsync.checkpoint import init_snapshot_from, model_from_checkpoint, public_config
    from realsync_build.streamsync.sparsesync.load import resolve, sizes_from_reference_config

    if not is_public_sparsesync(checkpoint):
        model, ck = model_from_checkpoint(checkpoint, map_location="cpu")
        return model, ck, STREAMSYNC
    path = resolve(checkpoint)
    cfg = public_config(path) or {}
    sizes = sizes_from_reference_config(cfg)
    mcfg = base_config(d_model=sizes.n_embd, n_heads=sizes.n_head, n_queries=sizes.num_selectors,
                       selector_layers=sizes.selector_layers, encoder_layers=sizes.global_layers)
    model = StreamSync(mcfg)
    init_snapshot_from(model, path)
    return model, {"source": str(checkpoint), "kind": SNAPSHOT_ONLY}, SNAPSHOT_ONLY


def table3_rows(metrics: dict) -> dict:
    """Table 3's rows from evaluate's metrics (``None``: not measured by this run).

    ``pretrained`` (a bare SparseSync checkpoint, or ``--pretrained``), ``snapshot`` (a
    fine-tuned run's predictor), ``apa`` and ``streamsync`` are evaluate's method keys
    (the same keys :mod:`realsync_build.streamsync.paper` sets beside the paper's rows).
    """
    keys = ("acc", "acc_pm1", "roc_auc", "map", "iteration", "n")
    pick = lambda m: {k: m[k] for k in keys if k in m} if isinstance(m, dict) else None  # noqa: E731
    return {
        "pretrained_sparsesync": pick(metrics.get("pretrained")),
        "finetuned_snapshot": pick(metrics.get("snapshot")),
        "apa": pick(metrics.get("apa")),
        "streamsync": pick(metrics.get("streamsync")),
    }
