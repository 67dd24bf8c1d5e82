"""Regenerate tests/fixtures/sparsesync/ from a checkout of the reference SparseSync code.

Run OUTSIDE the project's venv, in a scratch venv that has torch, omegaconf, einops and
torchvision (--no-deps; see docs/sparsesync.md), with this project on PYTHONPATH:

    PYTHONPATH=$PWD /tmp/refvenv/bin/python bench/sparsesync_reference_fixtures.py \
        --reference /tmp/SparseSync \
        --config /tmp/StreamSync/logs/sync_models/22-07-28T15-49-45/cfg-22-07-28T15-49-45.yaml

Writes (nothing else):
- ``layout_22-07-28T15-49-45.json``: the reference AVSyncModel's state-dict keys and shapes;
- ``numerics_small.pt``: plain tensors (loads with weights_only=True): seeded small inputs,
  the reference's logits with the deterministic weights of
  ``realsync_build.streamsync.sparsesync.testing`` (the state dict is rebuilt from the layout);
- ``numerics_full.pt`` (``--full``): the logits for one full-size window (125 x 224 px,
  257 x 626), inputs rebuilt from a seed;
- ``public_args_22-07-28T15-49-45.pt``: ``{'args': <OmegaConf config>, 'epoch', 'metrics'}``
  pickled the way the public checkpoints are (for the safe-loader test; no weights).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", required=True, type=Path, help="checkout of v-iashin/SparseSync")
    ap.add_argument("--config", required=True, type=Path, help="cfg-22-07-28T15-49-45.yaml (in jvoas655/StreamSync logs/)")
    ap.add_argument("--out", type=Path, default=Path("tests/fixtures/sparsesync"))
    ap.add_argument("--full", action="store_true", help="also the full-size window (about 10 s on 2 cores)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    from omegaconf import OmegaConf

    from realsync_build.streamsync.sparsesync.testing import deterministic_state, small_inputs

    sys.path.insert(0, str(args.reference.resolve()))
    from utils.utils import instantiate_from_config  # the reference's own factory

    cfg = OmegaConf.load(args.config)
    cfg.model.params.vfeat_extractor.params.ckpt_path = None  # random weights: no pretrained files
    cfg.model.params.afeat_extractor.params.ckpt_path = None
    model = instantiate_from_config(cfg.model).eval()
    layout = {k: list(v.shape) for k, v in model.state_dict().items()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "layout_22-07-28T15-49-45.json").write_text(json.dumps({"keys": len(layout), "layout": layout}, indent=0) + "\n")

    model.load_state_dict(deterministic_state(layout, seed=0), strict=True)
    vis, aud = small_inputs(seed=0)
    with torch.no_grad():
        _, logits = model(vis, aud)
    torch.save({"vis": vis, "aud": aud, "logits": logits, "seed": torch.tensor(0)}, args.out / "numerics_small.pt")
    print("small logits", logits.shape, logits[0, :5])
    if args.full:
        vis, aud = small_inputs(seed=1, batch=1, frames=125, size=224, spec_frames=626)
        with torch.no_grad():
            _, logits = model(vis, aud)
        torch.save({"logits": logits, "seed": torch.tensor(1)}, args.out / "numerics_full.pt")
        print("full logits", logits.shape, logits[0, :5])
    torch.save({"args": cfg, "epoch": 3, "metrics": {"accuracy_1": 0.5}}, args.out / "public_args_22-07-28T15-49-45.pt")


if __name__ == "__main__":
    main()
