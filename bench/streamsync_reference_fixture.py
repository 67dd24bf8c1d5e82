"""The reference side of ``bench/streamsync_reference_step.py``: run the StreamSync code, write the fixture.

Runs OUTSIDE the project's venv, in the scratch venv that imports jvoas655/StreamSync (see
``bench/streamsync_reference_step.py`` and docs/streamsync.md for the command); only
``realsync_build.streamsync.refcheck`` and ``sparsesync.testing`` (torch only) come from this project.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from streamsync_reference_step import KEEP_TRANSFORMS, PLACEMENT_OFFSETS, PLACEMENT_START_S




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
              "video_shape": torch.tensor(vid.shape),
              # the windows themselves (float32, 130 KB): the project's step starts from these very bits, so that the
              # comparison does not hang on the FFT's last-bit rounding, which differs between CPUs (measured 3.8e-6)
              "train_audio_windows": aud.detach().clone()}
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
    inputs["eval_audio_windows"] = eaud.detach().clone()
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
