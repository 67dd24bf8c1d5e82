"""StreamSync's training step against the StreamSync code's (jvoas655/StreamSync), in a reduced CPU setting.

Two sides, one command:

1. ``--make-fixture`` (the code in ``bench/streamsync_reference_fixture.py``): run OUTSIDE the project's venv, in a scratch venv that can import the StreamSync
   code (torch 2.13, omegaconf, einops, scipy, scikit-learn; torchvision 0.28 and torchaudio 2.11
   ``--no-deps``, torchvision's ``_meta_registrations.py`` emptied and torchaudio's ``lib/*.so``
   removed: see docs/streamsync.md "The training step against the reference"), with this project on
   PYTHONPATH::

       PYTHONPATH=$PWD /work/ref/venv/bin/python bench/streamsync_reference_step.py --make-fixture \\
           --reference /work/ref/StreamSync

   It builds the code's ``StreamingAVSyncModel`` from its own ``configs/streaming_sparse_sync.yaml``
   (cut as :mod:`realsync_build.streamsync.refcheck` says) with the code's ``instantiate_from_config``,
   loads seeded weights, feeds seeded spans through the code's own test transforms and its loader's
   window cutting, takes one phase-1 and one phase-2 step with its ``toggle_mode``, ``get_optimizer``,
   ``get_lr_scheduler``, ``make_backward_step`` and ``make_optim_step`` (the loop over streaming
   iterations mirrors ``train_sync.py``'s), runs 18 evaluation iterations, and records where its
   loader places windows and what targets its label transform makes.  It writes
   ``tests/fixtures/streamsync/reference_step.pt`` (plain tensors, summaries only: see ``refcheck.summary``).

2. Without ``--make-fixture`` (the project's venv): the same with this project's code, compared with the
   fixture; prints the figures docs/streamsync.md quotes.  ``tests/test_streamsync_reference.py`` runs the
   same comparison.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

FIXTURE = Path("tests/fixtures/streamsync/reference_step.pt")
PLACEMENT_OFFSETS = (-2.0, -1.4, -0.73, -0.07, 0.0, 0.07, 0.1, 0.55, 1.37, 1.99, 2.0)
PLACEMENT_START_S = 50.0  # a listed start (train row or evaluation segment)
# A tensor whose norm is below this fraction of the step's largest is a zero of the maths (an attention key bias:
# softmax ignores a shift shared by all keys, so its gradient is 0 up to rounding); it is compared on that scale.
ZERO_FLOOR = 1e-9
KEEP_TRANSFORMS = ("RGBToFloatToZeroOne", "RGBNormalize", "AudioSpectrogram", "AudioLog", "AudioStandardNormalize", "AudioUnsqueezeChannelDim")


# ---------------------------------------------------------------- the project side


def run_project(fx: dict, step_by_step: bool = True) -> dict:
    """This project's step on the same seeds: the same figures as the fixture records."""
    import numpy as np

    from realsync_build.streamsync.data import cut_windows
    from realsync_build.streamsync.model import StreamSync
    from realsync_build.streamsync.refcheck import SETTING as S
    from realsync_build.streamsync.refcheck import model_config, spans, summary, train_config, window_starts
    from realsync_build.streamsync.refnames import from_reference, reference_name
    from realsync_build.streamsync.sparsesync.testing import deterministic_state
    from realsync_build.streamsync.step import backward_step, make_optimizer, make_scheduler, optimizer_step, set_phase

    mcfg, tcfg = model_config(), train_config()
    layout = {k: tuple(v) for k, v in fx["layout"].items()}
    state = from_reference(deterministic_state(layout, seed=S["seed"]))
    with torch.device("meta"):
        model = StreamSync(mcfg)
    model.load_state_dict(state, strict=True, assign=True)
    model.double()  # float64, as the fixture (refcheck's docstring says why)

    def batch(kind: str, n: int, hop: float) -> dict:
        sp = spans()
        f_starts, a_starts = window_starts(n, hop)
        n_streams = sp[f"{kind}_video"].shape[0]
        vids, auds = zip(*(cut_windows(sp[f"{kind}_video"][b].numpy(), sp[f"{kind}_audio"][b].numpy(), np.array(f_starts), np.array(a_starts), mcfg)
                           for b in range(n_streams)))
        return {"video": torch.from_numpy(np.stack(vids)), "audio": torch.from_numpy(np.stack(auds)), "target": torch.tensor(S["classes"][:n_streams])}

    def reference_windows(b: dict, key: str) -> dict:
        """The step and the evaluation start from the code's own audio windows where the fixture has them: the
        front end is compared on its own (``*_audio_inputs``), and its last-bit FFT rounding, which differs
        between CPUs, is not carried into the step, where S3D's BatchNorm would magnify it."""
        ref = fx["inputs"].get(key)
        if ref is None:
            return b
        if tuple(ref.shape) != tuple(b["audio"].shape):
            raise SystemExit(f"the fixture's {key} are {tuple(ref.shape)}, this project cuts {tuple(b['audio'].shape)}")
        return {**b, "audio": ref.to(b["audio"].dtype)}

    train = batch("train", S["history"], S["train_hop_s"])
    own_train_audio = train["audio"]
    train = reference_windows(train, "train_audio_windows")
    optimizer = make_optimizer(model, tcfg)
    sched = make_scheduler(optimizer, tcfg, planned=1000)
    steps = []
    for phase, micro in ((1, 0), (2, S["phase2_micro_index"])):
        set_phase(model, phase, freeze_pretrained=True)
        model.train()
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        lr = optimizer.param_groups[0]["lr"]
        t0 = time.perf_counter()
        logs = backward_step(model, train, optimizer, tcfg, phase, None, "cpu", micro_index=micro)
        grads = {reference_name(n): summary(p.grad, reference_name(n)) for n, p in model.named_parameters() if p.grad is not None}
        optimizer_step(model, optimizer, tcfg, sched)
        deltas = {reference_name(n): summary(p.detach() - before[n], reference_name(n)) for n, p in model.named_parameters()}
        steps.append({"grad_range": logs["grad_range"], "lr": lr, "loss": float(logs["loss_tensor"]), "snapshot_logits": logs["out"]["snapshot"],
                      "stream_logits": logs["out"]["stream"], "grads": grads, "deltas": deltas, "seconds": time.perf_counter() - t0,
                      "trainable": sorted(reference_name(n) for n, p in model.named_parameters() if p.requires_grad)})
    buffers = {reference_name(n): summary(b, reference_name(n)) for n, b in model.named_buffers() if b.is_floating_point()}
    probe = torch.nn.Linear(1, 1)
    p_opt = make_optimizer(probe, tcfg)
    p_sched = make_scheduler(p_opt, tcfg, planned=1000)
    lrs = []
    for _ in range(len(fx["lrs"])):
        lrs.append(p_opt.param_groups[0]["lr"])
        p_opt.step()
        p_sched.step()

    model.load_state_dict(state, strict=True)
    model.float().eval()
    ev = batch("eval", S["eval_iterations"], S["eval_hop_s"])
    own_eval_audio = ev["audio"]
    ev = reference_windows(ev, "eval_audio_windows")
    t0 = time.perf_counter()
    stream_steps = []
    with torch.no_grad():
        out = model.predict_windows(ev["video"], ev["audio"])  # what realsync evaluate runs
        state_ = None
        for i in range(S["eval_iterations"] if step_by_step else 0):  # step by step, as the live monitor runs
            _, st, state_ = model.step(state_, ev["video"][:, i], ev["audio"][:, i])
            stream_steps.append(st)
    eval_s = time.perf_counter() - t0
    from realsync_build.streamsync.task import neighbour_targets

    return {"steps": steps, "buffers": buffers, "lrs": torch.tensor(lrs, dtype=torch.float64), "targets": neighbour_targets(torch.tensor(S["classes"])),
            "eval_snapshot_logits": out["snapshot"], "eval_stream_logits": out["stream"],
            "eval_stream_step_logits": torch.stack(stream_steps, 1) if stream_steps else None,
            "eval_seconds": eval_s, "inputs": {"train_audio": summary(own_train_audio, "train_audio"), "eval_audio": summary(own_eval_audio, "eval_audio"),
                                               "audio_shape": torch.tensor(own_train_audio.shape),
                                               "reference_windows": "train_audio_windows" in fx["inputs"]},
            "trainable_names": [sorted(s["trainable"]) for s in steps], "state_keys": sorted(reference_name(k) for k in model.state_dict())}


def compare(fx: dict, ours: dict) -> dict:
    """Every figure of the comparison: the largest error of each kind (relative to each tensor's scale for
    summaries, absolute for logits, losses and learning rates)."""
    from realsync_build.streamsync.refcheck import relative_error

    out: dict = {"layout_equal": ours["state_keys"] == sorted(fx["layout"]), "targets": float((ours["targets"] - fx["targets"]).abs().max()),
                 "train_audio_inputs": relative_error(ours["inputs"]["train_audio"], fx["inputs"]["train_audio"]),
                 "eval_audio_inputs": relative_error(ours["inputs"]["eval_audio"], fx["inputs"]["eval_audio"]),
                 "audio_shape": ours["inputs"]["audio_shape"].tolist() == fx["inputs"]["audio_shape"].tolist(),
                 "lr_schedule": float((ours["lrs"] - fx["lrs"]).abs().max() / fx["lrs"].abs().max())}
    for i, (o, r) in enumerate(zip(ours["steps"], fx["steps"])):
        name = f"phase{i + 1}"
        out[f"{name}_trainable_equal"] = o["trainable"] == r["trainable"]
        out[f"{name}_grad_range"] = o["grad_range"]
        out[f"{name}_reference_window"] = [r["cutoff"], fx["setting"]["k"]] if r["mode"] == 2 else None
        out[f"{name}_loss"] = abs(o["loss"] - r["loss"])
        out[f"{name}_lr"] = abs(o["lr"] - r["lr"]) / r["lr"]
        out[f"{name}_logits"] = float(max((o["snapshot_logits"] - r["snapshot_logits"]).abs().max(), (o["stream_logits"] - r["stream_logits"]).abs().max()))
        out[f"{name}_grad_names_equal"] = sorted(o["grads"]) == sorted(r["grads"])
        floor = ZERO_FLOOR * max(float(v[2]) for v in r["grads"].values())
        errs = {n: relative_error(o["grads"][n], r["grads"][n], floor) for n in r["grads"] if n in o["grads"]}
        out[f"{name}_zero_grads"] = sorted(n for n in r["grads"] if float(r["grads"][n][2]) < floor)
        out[f"{name}_grads_nonzero"] = max((e for n, e in errs.items() if n not in out[f"{name}_zero_grads"]), default=None)
        out[f"{name}_grads"] = max(errs.values()) if errs else None
        out[f"{name}_grads_worst"] = max(errs, key=errs.get) if errs else None
        out[f"{name}_grad_groups"] = _groups(errs)
        zero = set(out[f"{name}_zero_grads"])  # Adam turns their rounding noise into moves of ~lr x noise / eps: both negligible
        out[f"{name}_zero_grad_moves"] = max((max(float(o["deltas"][n][3]), float(r["deltas"][n][3])) / r["lr"] for n in zero), default=0.0)
        derr = {n: relative_error(o["deltas"][n], r["deltas"][n]) for n in r["deltas"] if n not in zero}
        moved = {n: e for n, e in derr.items() if float(r["deltas"][n][1]) > 0}
        out[f"{name}_updates"] = max(moved.values()) if moved else None
        out[f"{name}_unmoved_equal"] = all(float(o["deltas"][n][1]) == 0 for n in derr if n not in moved)
        out[f"{name}_update_groups"] = _groups(moved)
        out[f"{name}_reference_seconds"], out[f"{name}_seconds"] = r["seconds"], o["seconds"]
    out["buffers"] = max(relative_error(ours["buffers"][n], fx["buffers"][n]) for n in fx["buffers"])
    out["eval_snapshot_logits"] = float((ours["eval_snapshot_logits"] - fx["eval_snapshot_logits"]).abs().max())
    out["eval_stream_logits"] = float((ours["eval_stream_logits"] - fx["eval_stream_logits"]).abs().max())
    if ours["eval_stream_step_logits"] is not None:
        out["eval_stream_step_logits"] = float((ours["eval_stream_step_logits"] - fx["eval_stream_logits"]).abs().max())
    out["eval_logit_scale"] = float(fx["eval_stream_logits"].abs().max())
    out["reference_eval_seconds"], out["eval_seconds"] = fx["eval_seconds"], ours["eval_seconds"]
    return out


def _groups(errs: dict) -> dict:
    """The largest error per parameter group (the first two name parts)."""
    g: dict = {}
    for n, e in errs.items():
        key = ".".join(n.split(".")[:2])
        g[key] = max(g.get(key, 0.0), e)
    return dict(sorted(g.items()))


def placement_check(fx: dict) -> list[dict]:
    """The code's window placement and labels beside this project's ``--window-start code``."""
    from realsync_build.streamsync.data import plan_segment, window_start_shift_s
    from realsync_build.streamsync.model import base_config
    from realsync_build.streamsync.task import nearest_class, neighbour_targets

    cfg = base_config()
    rows = []
    for r in fx["placement"]["rows"]:
        plan, _ = plan_segment(300.0, fx["placement"]["start_s"] + window_start_shift_s("code"), r["offset_s"], 12, 1.0, cfg)
        video_s = float(plan.video_starts_s[0])
        audio_sample = int(round((plan.video_starts_s[0] + plan.offset_s) * cfg.sample_rate))
        rows.append({"offset_s": r["offset_s"], "video_start_s": (video_s, r["video_start_s"]),
                     "audio_start_sample": (audio_sample, r["audio_start_sample"]),
                     "target_class": (nearest_class(r["offset_s"]), int(r["target"].argmax())),
                     "target": float((neighbour_targets(torch.tensor(nearest_class(r["offset_s"]))) - r["target"]).abs().max())})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--make-fixture", action="store_true", help="run the reference (in its scratch venv) and write the fixture")
    ap.add_argument("--reference", type=Path, help="checkout of jvoas655/StreamSync (with --make-fixture)")
    ap.add_argument("--fixture", type=Path, default=FIXTURE)
    ap.add_argument("--json", type=Path, help="write the comparison figures here")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: about 8 CPU seconds of work a side; extra threads mostly wait)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.make_fixture:
        if args.reference is None:
            ap.error("--make-fixture needs --reference")
        from streamsync_reference_fixture import make_fixture  # the reference side: bench/streamsync_reference_fixture.py

        make_fixture(args.reference, args.fixture)
        return
    fx = torch.load(args.fixture, weights_only=True)
    t0 = time.perf_counter()
    ours = run_project(fx)
    figures = compare(fx, ours)
    figures["placement"] = placement_check(fx)
    figures["threads"], figures["seconds"] = torch.get_num_threads(), time.perf_counter() - t0
    text = json.dumps(figures, indent=1, default=str)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
