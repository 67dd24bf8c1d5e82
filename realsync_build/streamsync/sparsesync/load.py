"""``load_sparsesync``: a public SparseSync checkpoint (or a registry name) -> an eval-mode network.

A public file holds ``{'args': <OmegaConf config>, 'model': state_dict, 'epoch', ...}``.
It is read with :func:`realsync_build.models.safe_load.safe_load` (``weights_only=True``,
the OmegaConf objects become plain data), the sizes come from that config, and the state
dict loads with strict key and shape checking.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from realsync_build.models.safe_load import plain, safe_load
from realsync_build.models.weights import check_layout, model_layout
from realsync_build.streamsync.sparsesync.net import SparseSyncNet, SparseSyncSizes

# the reference classes this network implements (config ``target`` values, last component)
_EXPECTED_TARGETS = {
    ("model",): "AVSyncModel",
    ("model", "params", "vfeat_extractor"): "S3DVisualFeatures",
    ("model", "params", "afeat_extractor"): "ResNet18AudioFeatures",
    ("model", "params", "v_bridge_cfg"): "ConvBridgeVisual",
    ("model", "params", "a_bridge_cfg"): "DoNothingBridge",
    ("model", "params", "transformer"): "SparseSync",
    ("model", "params", "transformer", "params", "v_selector_cfg"): "FeatureSelectorTransformer",
    ("model", "params", "transformer", "params", "a_selector_cfg"): "FeatureSelectorTransformer",
    ("model", "params", "transformer", "params", "global_transformer_cfg"): "GlobalTransformer",
}


class SparseSyncConfigError(ValueError):
    """A config describes a network this module does not implement."""


def _get(cfg: dict, path: tuple[str, ...]) -> Any:
    node: Any = cfg
    for k in path:
        if not isinstance(node, dict) or k not in node:
            raise SparseSyncConfigError(f"SparseSync config has no {'.'.join(path)}")
        node = node[k]
    return node


def sizes_from_reference_config(cfg: dict, pass_token: bool = False) -> SparseSyncSizes:
    """The sizes in a reference ``cfg-*.yaml`` (as plain data; ``yaml.safe_load`` or :func:`plain`)."""
    for path, cls in _EXPECTED_TARGETS.items():
        target = str(_get(cfg, path + ("target",)))
        if target.rsplit(".", 1)[-1] != cls:
            raise SparseSyncConfigError(f"SparseSync config: {'.'.join(path)} is {target}, this project implements {cls} only")
    tp = _get(cfg, ("model", "params", "transformer", "params"))
    sel = _get(tp, ("v_selector_cfg", "params"))
    asel = _get(tp, ("a_selector_cfg", "params"))
    glob = _get(tp, ("global_transformer_cfg", "params"))
    bridge = _get(cfg, ("model", "params", "v_bridge_cfg", "params"))
    n = int(tp["n_embd"])
    if int(bridge["out_channels"]) != n or any(int(p["n_embd"]) != n for p in (sel, asel, glob)):
        raise SparseSyncConfigError("SparseSync config: bridge, selectors and global transformer must share n_embd")
    if int(sel["num_selectors"]) != int(asel["num_selectors"]) or int(sel["n_layer"]) != int(asel["n_layer"]):
        raise SparseSyncConfigError("SparseSync config: the visual and audio selectors differ in size; not supported")
    return SparseSyncSizes(
        n_embd=n,
        n_head=int(glob["n_head"]),
        selector_layers=int(sel["n_layer"]),
        global_layers=int(glob["n_layer"]),
        num_selectors=int(sel["num_selectors"]),
        visual_block_shape=tuple(int(x) for x in tp["visual_block_shape"]),
        audio_block_shape=tuple(int(x) for x in tp["audio_block_shape"]),
        num_offset_cls=int(tp["num_offset_cls"]),
        tok_pdrop=float(glob.get("tok_pdrop", 0.0)),
        embd_pdrop=float(glob.get("embd_pdrop", 0.0)),
        resid_pdrop=float(glob.get("resid_pdrop", 0.0)),
        attn_pdrop=float(glob.get("attn_pdrop", 0.0)),
        pass_token=pass_token,
    )


def read_public_checkpoint(path: str | Path) -> tuple[dict, dict]:
    """-> (config as plain data, the ``model`` state dict), read safely."""
    ck = safe_load(path, what="SparseSync checkpoint")
    if not isinstance(ck, dict) or not isinstance(ck.get("model"), dict) or "args" not in ck:
        raise SparseSyncConfigError(f"{path} is not a SparseSync checkpoint (no 'args' config and 'model' state dict)")
    cfg = plain(ck["args"])
    if not isinstance(cfg, dict):
        raise SparseSyncConfigError(f"{path}: its 'args' is not a config")
    return cfg, ck["model"]


def resolve(path_or_name: str | Path) -> Path:
    """A registry name (``sparsesync-vggsound-sparse``...) -> its verified file; anything else is a path.

    A registry model that is not downloaded raises ``ModelMissing`` naming
    ``realsync models download NAME``; nothing is fetched implicitly.
    """
    from realsync_build.models.registry import REGISTRY, model_path

    name = str(path_or_name)
    if name in REGISTRY:
        if REGISTRY[name].kind != "sync-predictor":
            raise SparseSyncConfigError(f"{name} is a {REGISTRY[name].kind}, not a SparseSync checkpoint")
        return model_path(name)
    return Path(path_or_name)


def load_sparsesync(path_or_registry_name: str | Path, pass_token: bool = False) -> SparseSyncNet:
    """The public checkpoint as an eval-mode :class:`SparseSyncNet`; ``model(vis, aud)`` -> logits (B, 21).

    ``pass_token=True`` adds StreamSync's PASS token (not in the file; randomly initialised).
    """
    path = resolve(path_or_registry_name)
    cfg, state = read_public_checkpoint(path)
    model = SparseSyncNet(sizes_from_reference_config(cfg, pass_token=pass_token))
    skip = lambda k: k.endswith("PASS_tok")  # noqa: E731
    check_layout(model_layout(model, skip), {k: v for k, v in state.items() if not skip(k)}, f"SparseSync {path}")
    model.load_state_dict(state, strict=not pass_token)
    return model.eval()
