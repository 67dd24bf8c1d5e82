"""Checkpoints: save/load with optimizer state, and ``--init-from`` with strict key checking.

Every file is read with :func:`realsync_build.models.safe_load.safe_load`
(``torch.load(weights_only=True)`` plus an explicit allowlist): a checkpoint cannot run code.
``--init-from`` takes a realsync checkpoint, a bare state dict, a public SparseSync file
(``{'args': <OmegaConf config>, 'model': ...}``) or a registry name
(``sparsesync-vggsound-sparse``...).

For ``realsync evaluate`` (:func:`model_for_evaluation`): a realsync checkpoint gives its
StreamSync model; a public SparseSync file (or registry name) becomes the snapshot predictor of
a base StreamSync, and has no streaming head.
"""

from __future__ import annotations

from pathlib import Path

import torch

from realsync_build.core.atomic import atomic_path
from realsync_build.models.safe_load import UnsafeCheckpointError, plain, safe_load
from realsync_build.streamsync.model import ModelConfig, StreamSync, base_config


class InitError(RuntimeError):
    pass


def save_checkpoint(path: Path, model: StreamSync, optimizer, extra: dict) -> None:
    state = {
        "format": "realsync-streamsync/1",
        "model_config": model.cfg.to_dict(),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        **extra,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    try:
        ck = safe_load(path, "checkpoint", map_location=map_location)
    except UnsafeCheckpointError as exc:
        raise InitError(str(exc)) from None
    if not isinstance(ck, dict) or "model" not in ck or "model_config" not in ck:
        raise InitError(f"{path} is not a realsync StreamSync checkpoint (no model / model_config)")
    return ck


def model_from_checkpoint(path: str | Path, map_location="cpu") -> tuple[StreamSync, dict]:
    ck = load_checkpoint(path, map_location)
    model = StreamSync(ModelConfig.from_dict(ck["model_config"]))
    model.load_state_dict(ck["model"])
    return model, ck


def _snapshot_state(obj) -> dict:
    """The snapshot predictor's state dict inside whatever was saved (adapters live here)."""
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]  # a realsync checkpoint or a public SparseSync file
    elif isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise InitError("not a state dict of tensors")
    if any(k.startswith("snapshot.") for k in obj):
        obj = {k[len("snapshot.") :]: v for k, v in obj.items() if k.startswith("snapshot.")}
    return obj


def public_config(path: str | Path) -> dict | None:
    """The plain-data config of a public SparseSync file (``args``), or None for other files."""
    raw = safe_load(path, "checkpoint")
    if isinstance(raw, dict) and "args" in raw and "model_config" not in raw:
        cfg = plain(raw["args"])
        return cfg if isinstance(cfg, dict) else None
    return None


def _listing(keys: list[str], limit: int = 12) -> str:
    more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def init_snapshot_from(model: StreamSync, path: str | Path) -> list[str]:
    """Load a snapshot-predictor checkpoint into ``model.snapshot`` with strict key checking.

    StreamSync's own new parameters (the PASS token) may be absent.  Raises
    :class:`InitError` listing missing, unexpected and mis-shaped keys.
    Returns the keys loaded.
    """
    from realsync_build.streamsync.sparsesync.load import resolve

    try:
        path = resolve(path)
    except Exception as exc:  # noqa: BLE001 - a registry miss or a failed download: one line
        raise InitError(f"--init-from {path}: {exc}") from None
    if not path.is_file():
        raise InitError(f"--init-from {path}: file not found")
    try:
        raw = safe_load(path, "--init-from")
        state = _snapshot_state(raw)
    except UnsafeCheckpointError as exc:
        raise InitError(str(exc)) from None
    except InitError as exc:
        raise InitError(f"--init-from {path}: {exc}") from exc
    own = model.snapshot.state_dict()
    required = {k for k in own if not model.snapshot.is_new_parameter(k)}
    missing = sorted(required - state.keys())
    unexpected = sorted(state.keys() - own.keys())
    shapes = sorted(f"{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}" for k in state.keys() & own.keys() if state[k].shape != own[k].shape)
    if missing or unexpected or shapes:
        parts = [f"--init-from {path} does not match the {model.cfg.predictor}/{model.cfg.name} snapshot predictor:"]
        if missing:
            parts.append(f"missing keys ({len(missing)}): {_listing(missing)}")
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {_listing(unexpected)}")
        if shapes:
            parts.append(f"shape mismatches ({len(shapes)}): {_listing(shapes)}")
        raise InitError("; ".join(parts))
    model.snapshot.load_state_dict(state, strict=False)
    return sorted(state)


# ------------------------------------------------------ what evaluate loads

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
