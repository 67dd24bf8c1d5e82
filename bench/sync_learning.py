"""Does `realsync train`'s path teach the SparseSync backbone audio-visual synchrony?  (CPU, < 15 min)

A task only alignment can pass.  Generated sources have events that are seen and heard at once (the
picture flashes, a tone burst sounds) at random times, several per window with random gaps, so
neither stream alone tells the offset: only where the events of one stream fall against those of
the other.  The items reach the model through the project's own path:

    generated mp4 sources -> `realsync preprocess` -> `realsync split --seed` -> `realsync export webdataset`
      -> the training loader (``streamsync.data.TrainWindows``: it applies the offset and the label)

and the model is the SparseSync backbone at ``--model-size tiny`` (32 px, 10 fps, 8 kHz), trained from
scratch with a curriculum over which windows it sees (a filter on the loader's window plans, from
the flashes found in the decoded clips; never from the label):

* ``near<s>``: windows with one event, within ``s`` of the video window's centre (from reading the offset
  in one stream to aligning the two);
* ``single``: windows where one event, and only one, is in both the video and the audio window
  (the sources alternate sparse stretches, one event in 15 s, with dense ones);
* ``dense``: windows whose video holds at least ``--min-events`` events (the task).

Held out: items of the test split's clips, ``dense`` windows, the loader's offsets (uniform over the
21 classes).  Controls on the same items, per item: ``audio_swapped`` (each item's audio from another
held-out item whose offset is at least two classes away), ``audio_silenced`` (zeros) and
``video_frozen`` (the first frame repeated).  The mark: acc +/-1 >= 3x chance and every control
<= 1.5x chance, and the held-out labels agree with the offset the items' own frames and samples show
(``media_offsets``: flash onsets against tone onsets, no label used) on at least half of the items
exactly and 75% within a class (measured on seed 1's items: 0.625 and 0.816; labels with the other
sign: 0.117 within a class; one class off: 0.168 or 0.023 exactly).  A sign or rounding error anywhere on the path (which a model trained through the same path
would learn as it is), or a model that reads one stream alone, fails it.

    PYTHONPATH=$PWD python bench/sync_learning.py --seed 1 --json bench/results/sync_learning_seed1.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT_DIR = Path(__file__).resolve().parents[1]
if str(ROOT_DIR) not in sys.path:
    sys.path.insert(0, str(ROOT_DIR))

from realsync_build.core.root import DatasetRoot  # noqa: E402
from realsync_build.streamsync.data import TrainWindows, WindowPlan  # noqa: E402
from realsync_build.streamsync.model import tiny_config  # noqa: E402
from realsync_build.streamsync.model.snapshot import SparseSyncPredictor  # noqa: E402
from realsync_build.streamsync.shards import index_split  # noqa: E402
from realsync_build.streamsync.synthetic import write_event_source  # noqa: E402
from realsync_build.streamsync.controls import chance_pm1, controls, hits_pm1  # noqa: E402

LOW_RES = dict(video_size=32, fps=10, sample_rate=8000, n_fft=128, hop_length=64)
RECIPE = "near0.1:300,near0.6:300,near1.2:300,single:600,single+dense:700"
WINDOW_S, MARGIN_S = 5.0, 0.3


# ---------------------------------------------------------------------------------------------- the sources


def event_times(duration_s: float, rng: np.random.Generator, sparse_s: float = 15.0, dense_s: float = 30.0, mean_gap_s: float = 2.5,
                min_gap_s: float = 1.0) -> list[float]:
    """Sparse and dense blocks in turn (which comes first is random): a sparse block (``sparse_s``) has one event
    near its middle; a dense one (``dense_s``) Poisson events (``min_gap_s`` + exponential, mean ``mean_gap_s``)
    at least 4 s from its edges, so that a sparse event is alone in any 7 s span."""
    out: list[float] = []
    dense, b0 = bool(rng.integers(2)), 0.0
    while b0 < duration_s - 1.0:
        if dense:
            t = b0 + 4.0 + rng.uniform(0, mean_gap_s)
            while t < min(b0 + dense_s - 4.0, duration_s - 1.0):
                out.append(t)
                t += min_gap_s + rng.exponential(mean_gap_s - min_gap_s)
        elif b0 + sparse_s / 2 + 3.0 < duration_s - 1.0:
            out.append(b0 + sparse_s / 2 + rng.uniform(-3.0, 3.0))
        b0 += dense_s if dense else sparse_s
        dense = not dense
    return [round(float(t), 3) for t in out]


def build_root(work: Path, n_sources: int, duration_s: float, clip_s: int, seed: int, say=print) -> DatasetRoot:
    """Sources, then the project's commands (each in its own process, as a user runs them)."""
    rng = np.random.default_rng(seed)
    src = work / "sources" / "synthetic_events"
    for i in range(n_sources):
        out = src / f"events_{seed}_{i:02d}.mp4"
        if not out.exists():
            write_event_source(out, duration_s, event_times(duration_s, rng), seed=seed * 1000 + i)
    root = work / "root"
    n_test = max(2, n_sources // 4)
    ratios = f"{(n_sources - n_test) / n_sources:.4f},0,{n_test / n_sources:.4f}"
    for args in (["preprocess", "--input", str(src.parent), "--clip-seconds", str(clip_s), "--workers", "2"],
                 ["split", "--seed", str(seed), "--ratios", ratios, "--tolerance", "1"],
                 ["export", "webdataset", "--splits", "train,test"]):
        t0 = time.time()
        run = subprocess.run([sys.executable, "-m", "realsync_build", *args, "--root", str(root), "--no-progress"],
                             capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT_DIR)))
        if run.returncode != 0:
            raise SystemExit(f"realsync {' '.join(args[:2])} failed ({run.returncode}):\n{run.stdout}\n{run.stderr}")
        say(f"realsync {args[0]}: {time.time() - t0:.1f} s")
    return DatasetRoot(root)


# ------------------------------------------------------------------------------- what the windows hold


def flash_onsets(frames: np.ndarray, fps: int) -> np.ndarray:
    """Times (s) where the picture brightens sharply: the events, as the decoded clip shows them."""
    level = frames.reshape(len(frames), -1).mean(1)
    lit = level > np.median(level) + 60.0
    return np.flatnonzero(lit & ~np.r_[False, lit[:-1]]) / fps


def events_in(events: np.ndarray, t0: float, window_s: float = WINDOW_S, margin_s: float = MARGIN_S) -> np.ndarray:
    return events[(events >= t0 + margin_s) & (events < t0 + window_s - margin_s)]


def stage_filter(stage: str, events: list[np.ndarray], min_events: int):
    """``accept(sample index, plan)`` for :class:`TrainWindows`: which window plans a stage uses."""

    def single(k: int, plan: WindowPlan) -> bool:
        v0, a0 = float(plan.video_starts_s[0]), float(plan.video_starts_s[0] + plan.offset_s)
        span = events[k][(events[k] > min(v0, a0) - 0.5) & (events[k] < max(v0, a0) + WINDOW_S + 0.5)]
        return len(span) == 1 and len(events_in(span, v0)) == 1 and len(events_in(span, a0)) == 1

    def dense(k: int, plan: WindowPlan) -> bool:
        return len(events_in(events[k], float(plan.video_starts_s[0]), margin_s=0.0)) >= min_events

    def near_centre(spread_s: float):
        def accept(k: int, plan: WindowPlan) -> bool:
            v0 = float(plan.video_starts_s[0])
            return single(k, plan) and abs(float(events_in(events[k], v0)[0]) - v0 - WINDOW_S / 2) <= spread_s
        return accept

    if stage.startswith("near"):  # near0.4: one event within 0.4 s of the video window's centre (curriculum)
        return near_centre(float(stage[4:]))
    return {"single": single, "dense": dense}[stage]


class Stage:
    """One curriculum stage's loader: the training loader over the train clips, with its window filter;
    ``a+b`` alternates items between the two filters."""

    def __init__(self, spec: str, samples, cfg, events, min_events: int, seed: int, clips: dict):
        self.sets = []
        for j, name in enumerate(spec.split("+")):
            self.sets.append(TrainWindows(samples, cfg, 1, seed=seed * 100 + j, starts="uniform", clips=clips,
                                          accept=stage_filter(name, events, min_events), length=10**9))
        self.i = 0

    def batch(self, n: int) -> dict:
        items = []
        for _ in range(n):
            ds = self.sets[self.i % len(self.sets)]
            items.append(ds[self.i])
            self.i += 1
        return stack(items)


# ------------------------------------------------------------------------------------- train, evaluate


def train(model: SparseSyncPredictor, stages: list[tuple[str, int]], loaders: dict, batch_size: int, lr: float, warmup: int,
          log_every: int, probe=None, say=print, advance_below: float = 1.8) -> tuple[list, int]:
    """AdamW (weight decay 0.01), linear warm-up, constant lr, then over the last stage a linear decay to lr / 10;
    grad-norm clip 1, cross-entropy on the 21 classes.  A stage but the last ends early once it is learned:
    when the training loss (an exponential average, 20 steps) is below ``advance_below``; its steps are the
    most it gets."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    curve, step, total, t0 = [], 0, sum(n for _, n in stages), time.time()
    model.train()
    for k, (spec, n) in enumerate(stages):
        ema = None
        last = k == len(stages) - 1
        for i in range(n):
            if not last and i >= 20 and ema < advance_below:
                say(json.dumps({"step": step, "stage": spec, "learned": True, "loss_ema": round(ema, 4)}))
                curve.append({"step": step, "stage": spec, "learned": True, "loss_ema": round(ema, 4)})
                break  # this stage is learned: on to the next (the last stage runs all its steps)
            decay = 1.0 - 0.9 * i / n if last else 1.0
            for g in opt.param_groups:
                g["lr"] = lr * min(1.0, (step + 1) / max(warmup, 1)) * decay
            b = loaders[spec].batch(batch_size)
            loss = torch.nn.functional.cross_entropy(model(b["video"], b["audio"]).logits, b["target"])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            ema = float(loss.detach()) if ema is None else 0.95 * ema + 0.05 * float(loss.detach())
            if step % log_every == 0 or (last and i == n - 1):
                point = {"step": step, "stage": spec, "loss": round(float(loss.detach()), 4), "seconds": round(time.time() - t0, 1)}
                if probe is not None:
                    model.eval()
                    point["held_out_acc_pm1"] = probe(model)
                    model.train()
                curve.append(point)
                say(json.dumps(point))
    return curve, step


def held_out(samples, cfg, events, min_events: int, n: int, seed: int, clips: dict) -> dict:
    ds = TrainWindows(samples, cfg, 1, seed=seed, starts="uniform", clips=clips, accept=stage_filter("dense", events, min_events), length=n)
    return stack([ds[i] for i in range(n)])


def stack(items: list[dict]) -> dict:
    """The loader's one-window items -> one batch (``video``, ``audio``, ``target``)."""
    return {"video": torch.stack([it["video"][0] for it in items]), "audio": torch.stack([it["audio"][0] for it in items]),
            "target": torch.as_tensor([it["target"] for it in items])}


@torch.no_grad()
def predict(model: SparseSyncPredictor, video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
    return torch.cat([model(video[i : i + 64], audio[i : i + 64]).logits.argmax(-1) for i in range(0, len(video), 64)])


def score(model: SparseSyncPredictor, items: dict) -> dict:
    """acc and acc +/-1 on the held-out items, and acc +/-1 of each control on the same items (per item)."""
    v, a, y = items["video"], items["audio"], items["target"]
    pred = predict(model, v, a)
    ctrl = {name: hits_pm1(predict(model, cv, ca), y) for name, (cv, ca) in controls(v, a, y).items()}
    return {"acc": round(float((pred == y).float().mean()), 4), "acc_pm1": round(float(hits_pm1(pred, y).mean()), 4),
            "controls": {k: round(float(h.mean()), 4) for k, h in ctrl.items()}}


def media_offsets(items: dict, cfg) -> torch.Tensor:
    """The offset class each held-out item's own frames and samples show, found without the loader's label:
    flash onsets in the video, tone onsets in the audio, and the shift (0.1 s steps within +/-2 s) that lines
    most of them up, ``offset = flash time - tone time`` (the audio window starts ``offset`` after the video
    window).  A label with the other sign, or off by a class, disagrees with it."""
    from realsync_build.core.avformat import nearest_class

    out = []
    hop = cfg.sample_rate // 10
    for v, a in zip(items["video"], items["audio"]):
        flashes = flash_onsets(v.numpy(), cfg.fps)
        rms = a.numpy()[: len(a) // hop * hop].reshape(-1, hop)
        loud = np.sqrt((rms**2).mean(1)) > 0.1
        tones = np.flatnonzero(loud & ~np.r_[False, loud[:-1]]) / 10.0
        shifts = np.round(np.arange(-2.0, 2.05, 0.1), 1)
        hits = [sum(np.any(np.abs(p - tones - d) <= 0.15) for p in flashes) for d in shifts]
        out.append(nearest_class(float(shifts[int(np.argmax(hits))])) if max(hits, default=0) > 0 else -100)
    return torch.as_tensor(out)


def run(args: argparse.Namespace, say=print) -> dict:
    t_start = time.time()
    torch.manual_seed(args.seed)
    with tempfile.TemporaryDirectory(prefix="sync_learning_") as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        root = build_root(work, args.sources, args.source_s, args.clip_s, args.seed, say)
        cfg = tiny_config(**LOW_RES)
        train_s, _ = index_split(root, "train")
        test_s, _ = index_split(root, "test")
        t0 = time.time()
        tr_probe = TrainWindows(train_s, cfg, 1, starts="uniform", cache=True)
        te_probe = TrainWindows(test_s, cfg, 1, starts="uniform", cache=True)
        tr_events = [flash_onsets(tr_probe.clip(k).frames, cfg.fps) for k in range(len(train_s))]
        te_events = [flash_onsets(te_probe.clip(k).frames, cfg.fps) for k in range(len(test_s))]
        say(f"decoded {len(train_s)} train and {len(test_s)} test clips in {time.time() - t0:.1f} s; "
            f"{sum(map(len, tr_events))} / {sum(map(len, te_events))} events")
        stages = [(p, int(n)) for p, n in (s.split(":") for s in args.stages.split(","))]
        loaders = {spec: Stage(spec, train_s, cfg, tr_events, args.min_events, args.seed, tr_probe.clips) for spec, _ in stages}
        items = held_out(test_s, cfg, te_events, args.min_events, args.eval, 10_000 + args.seed, te_probe.clips)
        probe_items = {k: v[:128] for k, v in items.items()}
        probe = lambda m: score(m, probe_items)["acc_pm1"]  # noqa: E731
        model = SparseSyncPredictor(tiny_config(**LOW_RES))
        t_train = time.time()
        curve, steps = train(model, stages, loaders, args.batch, args.lr, args.warmup, args.log_every, probe, say)
        train_seconds = time.time() - t_train
        model.eval()
        result = score(model, items)
        chance = round(chance_pm1(items["target"]), 4)
        shown = media_offsets(items, cfg)
        agree = float((shown == items["target"]).float().mean())
        agree_pm1 = float(((shown - items["target"]).abs() <= 1).float().mean())
    passed = result["acc_pm1"] >= 3 * chance and all(v <= 1.5 * chance for v in result["controls"].values()) and agree >= 0.5 and agree_pm1 >= 0.75
    return {**result, "chance_pm1": chance, "labels_agree_with_media": {"exact": round(agree, 4), "within_one": round(agree_pm1, 4)}, "passed": bool(passed), "mark": {"acc_pm1_min": round(3 * chance, 4), "control_max": round(1.5 * chance, 4)},
            "steps": steps, "stages": args.stages, "seconds": round(time.time() - t_start, 1),
            "train_seconds": round(train_seconds, 1), "threads": torch.get_num_threads(), "seed": args.seed, "held_out_items": args.eval,
            "batch": args.batch, "lr": args.lr, "model": {**LOW_RES, "size": "tiny"}, "curve": curve,
            "load_avg_end": [round(x, 2) for x in os.getloadavg()]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--seed", type=int, default=0, help="sources, split, curriculum, initialisation (default %(default)s)")
    ap.add_argument("--steps", type=int, default=None, help="the most steps in all; the stages keep their proportions (default: the recipe's 2200; a stage but the last ends once learned)")
    ap.add_argument("--json", type=Path, default=None, help="write the result here")
    ap.add_argument("--stages", default=RECIPE, help="curriculum, stage:steps,... (default %(default)s)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--sources", type=int, default=8, help="generated sources (a quarter, at least 2, go to test)")
    ap.add_argument("--source-s", type=float, default=120.0, help="seconds per source")
    ap.add_argument("--clip-s", type=int, default=60, help="preprocess --clip-seconds")
    ap.add_argument("--min-events", type=int, default=2, help="events in a task window's video, at least")
    ap.add_argument("--eval", type=int, default=512, help="held-out items")
    ap.add_argument("--log-every", type=int, default=100)
    ap.add_argument("--work", default=None, help="keep the sources and the root here (default: a temporary folder)")
    args = ap.parse_args()
    if args.steps is not None:
        stages = [(p, int(n)) for p, n in (s.split(":") for s in args.stages.split(","))]
        total = sum(n for _, n in stages)
        args.stages = ",".join(f"{p}:{max(1, round(n * args.steps / total))}" for p, n in stages)
    out = run(args, say=lambda m: print(m, file=sys.stderr, flush=True))
    text = json.dumps(out, indent=1)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "curve"}))
    sys.exit(0 if out["passed"] else 1)


if __name__ == "__main__":
    main()
