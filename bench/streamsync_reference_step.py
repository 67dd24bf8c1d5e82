"""StreamSync's training step against the StreamSync code's (jvoas655/StreamSync), in a reduced CPU setting.

Two sides, one script:

1. ``--make-fixture``: run OUTSIDE the project's venv, in a scratch venv that can import the StreamSync
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
import sys
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


# ---------------------------------------------------------------- the reference side (scratch venv)


def _reference_config(ref: Path, name: str):
    from omegaconf import OmegaConf

    from realsync_build.streamsync.refcheck import SETTING as S

    cfg = OmegaConf.load(ref / "configs" / name)
    t = cfg.model.params.transformer.params
    t.n_layer = S["n_layer"]
    t.a_selector_cfg.params.num_selectors = S["num_selectors"]
    t.visual_block_shape, t.audio_block_shape = list(S["visual_block_shape"]), list(S["audio_block_shape"])
    for k in ("embd_pdrop", "resid_pdrop", "attn_pdrop"):
        t[k] = 0.0
    for t_cfg in list(cfg.get("transform_sequence_test", [])) + list(cfg.get("transform_sequence_train", [])):
        if t_cfg.target.endswith(".AudioSpectrogram"):
            t_cfg.params.n_fft = S["n_fft"]
    cfg.model.params.vfeat_extractor.params.ckpt_path = None
    cfg.model.params.afeat_extractor.params.ckpt_path = None
    if "streaming" in cfg.data:
        cfg.data.streaming.max_streaming_frames = S["history"]
        cfg.data.streaming.num_frames_to_train_on = S["k"]
    tr = cfg.training
    tr.base_learning_rate = S["lr"]
    tr.lr_scheduler.warmup, tr.lr_scheduler.constant, tr.lr_scheduler.remaining = S["warmup_steps"], S["constant_steps"], S["decay_steps"]
    OmegaConf.resolve(cfg)
    return cfg


def _reference_windows(transforms, video, audio, n: int, hop_s: float):
    """The code's test transforms on each stream's span, then its loader's window cutting
    (``SportsAndNews.__getitem__``: frames ``int(t * fps)`` on, spectrogram frames ``int(t * sr / 128)`` on)."""
    from realsync_build.streamsync.refcheck import SETTING as S

    vids, auds = [], []
    for b in range(video.shape[0]):
        item = {"video": video[b].permute(0, 3, 1, 2).contiguous(), "audio": audio[b].clone(), "targets": {},
                "meta": {"video": {"fps": [S["fps"]]}, "audio": {"framerate": [S["sample_rate"]]}}}
        for t in transforms:
            item = t(item)
        v_seg, a_seg, t_s = [], [], 0.0
        for _ in range(n):
            a0, v0 = int(t_s * S["sample_rate"] / 128), int(t_s * S["fps"])
            if not a_seg:
                a_seg.append(item["audio"][:, :, a0 : int((t_s + S["window_s"]) * S["sample_rate"] / 128)])
                v_seg.append(item["video"][v0 : int((t_s + S["window_s"]) * S["fps"])])
            else:
                a_seg.append(item["audio"][:, :, a0 : a0 + a_seg[-1].shape[-1]])
                v_seg.append(item["video"][v0 : v0 + v_seg[-1].shape[0]])
            t_s += hop_s
        vids.append(torch.stack(v_seg))
        auds.append(torch.stack(a_seg))
    return torch.stack(vids), torch.stack(auds)


def _placement(ref_cfg_full):
    """Where the code's loader puts the windows and what target it makes, on index-valued spans at the
    published settings (H 12, 1 s hop, 25 fps, 16 kHz): ``get_video_and_audio`` reads from ``start - 2 - 2``
    (taken as exact here), ``EqualifyFromRightStreaming`` trims, ``TemporalCropAndOffsetRandomFeasibleStreaming``
    crops (the dataset sets ``offset_sec`` and ``v_start_i_sec``, so the fixed-offset branch runs)."""
    from utils.utils import instantiate_from_config

    seq = {c.target.split(".")[-1]: c for c in ref_cfg_full.transform_sequence_train}
    equalify = instantiate_from_config(seq["EqualifyFromRightStreaming"])
    crop = instantiate_from_config(seq["TemporalCropAndOffsetRandomFeasibleStreaming"])
    fps, sr = 25, 16000
    load_s = ref_cfg_full.data.crop_len_sec + ref_cfg_full.data.streaming.streaming_hop * ref_cfg_full.data.streaming.max_streaming_frames
    read_from = PLACEMENT_START_S - ref_cfg_full.data.loading_shift[0] - 2  # get_video_and_audio: start_sec - 2, then read at start - 2
    read_to = PLACEMENT_START_S + load_s + ref_cfg_full.data.loading_shift[1] + 1
    n_v, n_a = int((read_to - read_from) * fps), int((read_to - read_from) * sr)
    rows = []
    for off in PLACEMENT_OFFSETS:
        item = {"video": torch.arange(n_v, dtype=torch.float64).view(n_v, 1, 1, 1).expand(n_v, 3, 1, 1),
                "audio": torch.arange(n_a, dtype=torch.float64), "path": "index", "split": "train",
                "meta": {"video": {"fps": [float(fps)]}, "audio": {"framerate": [float(sr)]}},
                "targets": {"offset_sec": off, "v_start_i_sec": PLACEMENT_START_S}}
        item = crop(equalify(item))
        rows.append({"offset_s": off, "video_start_s": read_from + float(item["video"][0, 0, 0, 0]) / fps,
                     "audio_start_sample": int(read_from * sr + float(item["audio"][0])), "target": item["targets"]["offset_target"].float(),
                     "n_frames": int(item["video"].shape[0]), "n_samples": int(item["audio"].shape[0])})
    return {"start_s": PLACEMENT_START_S, "read_from_s": read_from, "rows": rows}


def make_fixture(ref: Path, out: Path) -> None:
    sys.path.insert(0, str(ref.resolve()))
    import dataset.transforms as rt  # noqa: F401 - the code's transforms (instantiated from its config)
    import scripts.train_utils as tu
    from utils.utils import instantiate_from_config

    from realsync_build.streamsync.refcheck import SETTING as S
    from realsync_build.streamsync.refcheck import spans, summary
    from realsync_build.streamsync.sparsesync.testing import deterministic_state

    cfg = _reference_config(ref, "streaming_sparse_sync.yaml")
    model = instantiate_from_config(cfg.model)
    layout = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    state = deterministic_state(layout, seed=S["seed"])
    model.load_state_dict(state, strict=True)
    model.double()  # float64 on both sides: refcheck's docstring says why
    for name in ("up_proj", "gate_proj", "down_proj"):  # its sinusoid table is float32 whatever the weights: cast it on the way in
        getattr(model.streaming_head.streaming_pos_emb_module, name).register_forward_pre_hook(lambda m, args: (args[0].to(m.weight.dtype),))
    # what load_ckpt calls model_only_params: the model's keys that a SparseSync checkpoint lacks
    sparse = instantiate_from_config(_reference_config(ref, "sparse_sync.yaml").model)
    model_only = sorted(set(model.state_dict()) - set(sparse.state_dict()))
    del sparse

    transforms = [instantiate_from_config(c) for c in cfg.transform_sequence_test if c.target.split(".")[-1] in KEEP_TRANSFORMS]
    assert len(transforms) == len(KEEP_TRANSFORMS)
    sp = spans()
    vid, aud = _reference_windows(transforms, sp["train_video"], sp["train_audio"], S["history"], S["train_hop_s"])
    inputs = {"train_audio": summary(aud, "train_audio"), "train_video": summary(vid, "train_video"), "audio_shape": torch.tensor(aud.shape),
              "video_shape": torch.tensor(vid.shape)}
    vid, aud = vid.double(), aud.double()
    placement = _placement(_full_config(ref))
    # targets: the code's label transform at each stream's class offset
    seq = {c.target.split(".")[-1]: c for c in _full_config(ref).transform_sequence_train}
    crop = instantiate_from_config(seq["TemporalCropAndOffsetRandomFeasibleStreaming"])
    targets = []
    for c in S["classes"]:
        item = {"video": torch.zeros(1000, 3, 1, 1), "audio": torch.zeros(1000 * 640), "path": "x", "split": "train",
                "meta": {"video": {"fps": [25.0]}, "audio": {"framerate": [16000.0]}},
                "targets": {"offset_sec": -2.0 + 0.2 * c, "v_start_i_sec": 10.0}}
        targets.append(crop(item)["targets"]["offset_target"])
    targets = {"offset_target": torch.stack(targets).double()}

    optimizer = tu.get_optimizer(cfg, model, 1)
    sched = tu.get_lr_scheduler(cfg, optimizer)
    scaler = torch.cuda.amp.GradScaler()  # disabled without CUDA: scale, unscale_ and update do nothing
    h, k = S["history"], S["k"]
    steps = []
    for epoch, iter_step in ((0, 0), (cfg.training.freeze_first, S["phase2_micro_index"])):
        mode = tu.toggle_mode(cfg, model, "train", epoch, model_only)
        optimizer.zero_grad()
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        lr = optimizer.param_groups[0]["lr"]
        t0 = time.perf_counter()
        # train_sync.py, the streaming branch of one training iteration (fp32: no autocast on CPU)
        feats, acum, norm = None, 0.0, 0.0
        cutoff = iter_step % (h - 2 * k) + k
        ss_all, st_all = [], []
        for it in range(h):
            st_loss, ss_loss, st_logits, ss_logits, feats = model(vid[:, it], aud[:, it], feats, targets,
                                                                  detach_base=(mode == 2 and (it < cutoff or it >= cutoff + k)))
            if it < k - 1:
                acum, norm = acum + (1 / 3) * ss_loss.mean(), norm + 1 / 3
            else:
                acum, norm = acum + ((1 / 3) * ss_loss.mean() + (2 / 3) * st_loss.mean()), norm + 1
            ss_all.append(ss_logits.detach())
            st_all.append(st_logits.detach())
        acum = acum / norm
        tu.make_backward_step(cfg, acum, model, scaler)
        grads = {n: summary(p.grad, n) for n, p in model.named_parameters() if p.grad is not None}
        tu.make_optim_step(cfg, model, optimizer, scaler, sched)
        deltas = {n: summary(p.detach() - before[n], n) for n, p in model.named_parameters()}
        steps.append({"mode": mode, "cutoff": cutoff, "lr": lr, "loss": float(acum), "snapshot_logits": torch.stack(ss_all, 1),
                      "stream_logits": torch.stack(st_all, 1), "grads": grads, "deltas": deltas, "seconds": time.perf_counter() - t0,
                      "trainable": sorted(n for n, p in model.named_parameters() if p.requires_grad)})
        print(f"step mode {mode}: loss {float(acum):.6f}, lr {lr:.3g}, {len(grads)} tensors with gradients, {steps[-1]['seconds']:.1f} s")
    buffers = {n: summary(b, n) for n, b in model.named_buffers() if b.is_floating_point()}

    # the lr schedule over a few more steps (a fresh optimiser on one parameter)
    dummy = torch.nn.Linear(1, 1)
    sched_opt = tu.get_optimizer(cfg, dummy, 1)
    sched2 = tu.get_lr_scheduler(cfg, sched_opt)
    lrs = []
    for _ in range(S["warmup_steps"] + S["constant_steps"] + S["decay_steps"] + 4):
        lrs.append(sched_opt.param_groups[0]["lr"])
        sched_opt.step()
        sched2.step()

    # 18 streaming evaluation iterations on the freshly loaded weights, in float32
    model.load_state_dict(state, strict=True)
    model.float().eval()
    evid, eaud = _reference_windows(transforms, sp["eval_video"], sp["eval_audio"], S["eval_iterations"], S["eval_hop_s"])
    inputs["eval_audio"] = summary(eaud, "eval_audio")
    eval_targets = {"offset_target": targets["offset_target"][: S["eval_batch"]].float()}
    feats, e_ss, e_st = None, [], []
    t0 = time.perf_counter()
    with torch.no_grad():
        for it in range(S["eval_iterations"]):
            _, _, st_logits, ss_logits, feats = model(evid[:, it], eaud[:, it], feats, eval_targets)
            e_ss.append(ss_logits)
            e_st.append(st_logits)
    eval_s = time.perf_counter() - t0
    fixture = {"layout": {k: list(v) for k, v in layout.items()}, "model_only": model_only, "targets": targets["offset_target"].float(),
               "steps": steps, "buffers": buffers, "lrs": torch.tensor(lrs, dtype=torch.float64), "inputs": inputs,
               "eval_snapshot_logits": torch.stack(e_ss, 1), "eval_stream_logits": torch.stack(e_st, 1), "eval_seconds": eval_s,
               "placement": placement, "setting": {k: (list(v) if isinstance(v, tuple) else v) for k, v in S.items()},
               "torch": str(torch.__version__)}
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(fixture, out)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB); eval {eval_s:.1f} s")


def _full_config(ref: Path):
    """The published streaming config as it is (for the loader's window placement and labels)."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(ref / "configs" / "streaming_sparse_sync.yaml")
    OmegaConf.resolve(cfg)
    return cfg


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
    from realsync_build.streamsync.step import backward_step, draw_grad_range, make_optimizer, make_scheduler, optimizer_step, set_phase

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

    train = batch("train", S["history"], S["train_hop_s"])
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
            "eval_seconds": eval_s, "inputs": {"train_audio": summary(train["audio"], "train_audio"), "eval_audio": summary(ev["audio"], "eval_audio"),
                                               "audio_shape": torch.tensor(train["audio"].shape)},
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
