"""``realsync evaluate``: fixed dev/test segments, three methods side by side.

* snapshot: the snapshot predictor alone, at its best iteration (as the paper
  reports non-streaming models);
* APA: the average of the snapshot probabilities over the iterations so far;
* StreamSync: the streaming head's prediction at the last iteration.

Each segment gets ``iterations`` windows with a ``hop_s`` hop from its start, all at
the segment's offset.  When the shortest clip cannot hold that many windows at
that hop (the demo's 10 s clips), the iteration count is clamped to what fits
and ``notes`` in metrics.json says so.

Beside the methods: the floors of two constant predictors on the same segments
(``baselines``: always offset 0, the most common class;
:mod:`realsync_build.streamsync.baselines`), and every figure of the paper's Tables 3-6
beside the measured one (``paper``; :mod:`realsync_build.streamsync.beside`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from realsync_build.core import atomic
from realsync_build.core.root import DatasetRoot
from realsync_build.streamsync.baselines import floors
from realsync_build.streamsync.data import Segment, SegmentWindows, shift_segments
from realsync_build.streamsync.evaluate_output import (  # noqa: F401
    METHODS, ablation_statement, by_iteration_figure, by_iteration_table, plot_by_iteration, print_summary,
)
from realsync_build.streamsync.metrics import summarize
from realsync_build.streamsync.model import StreamSync
from realsync_build.streamsync.shards import index_split
from realsync_build.streamsync.task import MAX_OFFSET_S, NUM_CLASSES
from realsync_build.core.ui import console


def load_segments(root: DatasetRoot, split: str) -> tuple[list[Segment], list[str]]:
    """Segments from the shards' json (``segments``), else from manifests/segments.parquet by clip_id."""
    samples, problems = index_split(root, split)
    table = None
    if root.has("segments"):
        table = root.read("segments")
        table = table[table["split"] == split] if "split" in table else table
    out: list[Segment] = []
    for s in samples:
        rows = s.meta.get("segments") or []
        if not rows and table is not None:
            rows = table[table["clip_id"] == s.meta.get("clip_id", s.key)].to_dict("records")
        for r in rows:
            try:
                out.append(Segment(str(r["segment_id"]), s, float(r["start_s"]), float(r["offset_sec"]),
                                   str(r.get("scenario") or "unknown"), str(s.meta.get("channel") or r.get("channel") or "unknown")))
            except (KeyError, TypeError, ValueError) as exc:
                problems.append(f"{s.key}: bad segment row {r!r}: {exc}")
    return out, problems


def iterations_that_fit(segments: list[Segment], window_s: float, n: int, hop_s: float) -> int:
    """Windows per segment that fit at ``hop_s`` in the shortest clip (worst offset), at most ``n``, at least 1."""
    room = min(s.sample.duration_s for s in segments) - window_s - MAX_OFFSET_S
    return max(1, min(n, int(math.floor(max(room, 0.0) / hop_s + 1e-6)) + 1))


@torch.no_grad()
def predict(model: StreamSync, dataset: SegmentWindows, batch_size: int = 8, workers: int = 0, device=None, ablation: str | None = None,
            progress: bool = False, label: str = "evaluate") -> dict:
    """Snapshot and stream probabilities ``(N, T, 21)`` for every segment; failed segments flagged."""
    from realsync_build.core.ui import stage_progress

    device = device or next(model.parameters()).device
    model.eval()
    n = len(dataset)
    snap = np.zeros((n, dataset.n, NUM_CLASSES), np.float32)
    stream = np.zeros_like(snap)
    target = np.zeros(n, np.int64)
    ok = np.zeros(n, bool)
    hops = np.zeros(n, np.float32)
    errors: list[str] = []
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    with stage_progress(label, n, enabled=progress, unit="segments") as bar:
        for b in loader:
            video, audio = b["video"].to(device), b["audio"].to(device)
            if ablation == "audio_silenced":
                audio = torch.zeros_like(audio)
            elif ablation == "video_blanked":
                video = torch.zeros_like(video)
            out = model.predict_windows(video, audio)
            idx = b["index"].numpy()
            snap[idx] = torch.softmax(out["snapshot"].float(), -1).cpu().numpy()
            stream[idx] = torch.softmax(out["stream"].float(), -1).cpu().numpy()
            target[idx] = b["target"].numpy()
            ok[idx] = b["ok"].numpy()
            hops[idx] = b["hop_s"].numpy()
            errors += [e for e in b["error"] if e]
            bar.advance(len(idx))
    return {"snapshot": snap, "stream": stream, "target": target, "ok": ok, "errors": errors, "hop_s": hops}


def apa(snapshot_probs: np.ndarray) -> np.ndarray:
    """Average of the snapshot probabilities over the iterations so far: ``(N, T, C)`` -> ``(N, T, C)``."""
    return np.cumsum(snapshot_probs, axis=1) / np.arange(1, snapshot_probs.shape[1] + 1)[None, :, None]


def method_probs(pred: dict) -> tuple[dict[str, np.ndarray], dict]:
    """Final probabilities per method ``(N, C)`` and the accuracy-by-iteration table."""
    ok = pred["ok"]
    snap, stream, y = pred["snapshot"][ok], pred["stream"][ok], pred["target"][ok]
    ap = apa(snap)
    t = snap.shape[1]
    acc = lambda p: float(np.mean(p.argmax(-1) == y)) if len(y) else float("nan")  # noqa: E731
    by_iter = [{"iteration": i + 1, "snapshot": acc(snap[:, i]), "apa": acc(ap[:, i]), "streamsync": acc(stream[:, i])} for i in range(t)]
    best = int(np.argmax([r["snapshot"] for r in by_iter])) if len(y) else 0
    return {"snapshot": snap[:, best], "apa": ap[:, -1], "streamsync": stream[:, -1]}, {"by_iteration": by_iter, "snapshot_best_iteration": best + 1}


def _breakdown(probs: np.ndarray, y: np.ndarray, groups: np.ndarray) -> dict:
    return {str(g): summarize(probs[groups == g], y[groups == g]) for g in sorted(set(groups.tolist()))}


def segment_groups(pred: dict, segments: list[Segment], scenarios: list[str] | None = None) -> dict[str, np.ndarray]:
    """Each evaluated (decoded) segment's scenario and channel, in ``pred``'s order."""
    ok = pred["ok"]
    scenarios = scenarios if scenarios is not None else [s.scenario for s in segments]
    return {"per_scenario": np.array([sc for sc, k in zip(scenarios, ok) if k]),
            "per_channel": np.array([s.channel for s, k in zip(segments, ok) if k])}


def train_labels(root: DatasetRoot) -> np.ndarray | None:
    """Fixed offset classes of a ``train`` split in segments.parquet, when the root has them (rare: the trainer draws its own)."""
    if not root.has("segments"):
        return None
    table = root.read("segments")
    if "split" not in table or "offset_class" not in table:
        return None
    train = table.loc[table["split"] == "train", "offset_class"].dropna()
    return train.to_numpy(np.int64) if len(train) else None


def report(pred: dict, segments: list[Segment], scenarios: list[str] | None = None) -> dict:
    y = pred["target"][pred["ok"]]
    groups = segment_groups(pred, segments, scenarios)
    scen, chan = groups["per_scenario"], groups["per_channel"]
    probs, extra = method_probs(pred)
    out: dict = {}
    for m in METHODS:
        out[m] = {**summarize(probs[m], y), "per_scenario": _breakdown(probs[m], y, scen), "per_channel": _breakdown(probs[m], y, chan)}
    out["snapshot"]["iteration"] = extra["snapshot_best_iteration"]
    out["by_iteration"] = extra["by_iteration"]
    return out


def by_window_count(pred: dict, counts: list[int]) -> list[dict]:
    """Table 4: each method's metrics when the stream stops after ``n`` windows, for every ``n`` in ``counts``.

    The streaming head at iteration n sees windows 1..n only (history is unlimited but causal), so one
    run over max(counts) windows gives every row: APA averages the first n snapshot predictions,
    StreamSync is its prediction at iteration n, the snapshot its best single iteration among the first n.
    """
    ok = pred["ok"]
    y = pred["target"][ok]
    rows = []
    for n in counts:
        sub = {"snapshot": pred["snapshot"][:, :n], "stream": pred["stream"][:, :n], "target": pred["target"], "ok": ok}
        probs, extra = method_probs(sub)
        row = {"iterations": int(n)}
        for m in METHODS:
            row[m] = summarize(probs[m], y)
        row["snapshot"]["iteration"] = extra["snapshot_best_iteration"]
        rows.append(row)
    return rows


def parse_iterations(value) -> list[int]:
    """``18``, ``"2,4,12,24"`` or a list -> sorted distinct window counts (each >= 1)."""
    if isinstance(value, int):
        items = [value]
    elif isinstance(value, str):
        try:
            items = [int(x) for x in value.replace(" ", "").split(",") if x]
        except ValueError as exc:
            raise ValueError(f"--iterations {value!r}: give window counts like 18 or 2,4,12,24") from exc
    else:
        items = [int(x) for x in value]
    if not items or min(items) < 1:
        raise ValueError(f"--iterations {value!r}: window counts must be >= 1")
    return sorted(set(items))


def chance_levels(y: np.ndarray) -> dict:
    """Accuracy of always guessing the most frequent class, and of a uniform guess."""
    if not len(y):
        return {}
    counts = np.bincount(y, minlength=NUM_CLASSES)
    k = int(counts.argmax())
    pm1 = counts[max(k - 1, 0) : k + 2].sum() / len(y)
    return {"acc_majority": float(counts[k] / len(y)), "acc_pm1_majority": float(pm1), "acc_uniform": 1 / NUM_CLASSES, "acc_pm1_uniform": 3 / NUM_CLASSES}


def dev_score(root: DatasetRoot, model: StreamSync, cfg, device) -> dict | None:
    """StreamSync (last iteration) metrics on the dev segments, for picking best.pt; None without dev segments."""
    segments, _ = load_segments(root, "dev")
    if not segments:
        return None
    segments = shift_segments(segments[: cfg.eval_max_segments], getattr(cfg, "window_start", None))
    n = iterations_that_fit(segments, model.cfg.window_s, cfg.eval_iterations or model.cfg.history, cfg.eval_hop_s)
    pred = predict(model, SegmentWindows(segments, model.cfg, n, cfg.eval_hop_s), batch_size=max(1, cfg.batch_size // 2), device=device)
    if not pred["ok"].any():
        return None
    probs, _ = method_probs(pred)
    return summarize(probs["streamsync"], pred["target"][pred["ok"]])


@dataclass
class EvalOptions:
    iterations: int | str | list = 18  # one window count, or several ("2,4,12,24,32,40,48": Table 4)
    hop_s: float = 2.0
    batch_size: int = 8
    workers: int = 0
    ablation: bool = True
    cost: bool = True
    cost_repeats: int = 20
    max_segments: int | None = None
    device: str = "auto"
    progress: bool = True
    pretrained: str | None = None  # also evaluate this public SparseSync (name or path) without fine-tuning: Table 3's Pt row
    window_start: str = "listed"  # listed | code: the windows 2 s before each segment's start, as the StreamSync code's loader


def run_evaluate(root: DatasetRoot, checkpoint: str | Path, split: str = "test", out: str | Path = "eval", opts: EvalOptions | None = None) -> dict:
    """Evaluate a checkpoint on ``split``'s fixed segments; write ``out``/metrics.json, by_iteration.csv/.png."""
    from realsync_build.streamsync.cost import inference_cost
    from realsync_build.streamsync.checkpoint import SNAPSHOT_ONLY, model_for_evaluation
    from realsync_build.streamsync.paper import table3_rows

    opts = opts or EvalOptions()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if opts.device == "auto" and torch.cuda.is_available() else ("cpu" if opts.device == "auto" else opts.device))
    model, ck, kind = model_for_evaluation(checkpoint)
    model.to(device).eval()
    segments, problems = load_segments(root, split)
    for p in problems:
        console.print(f"[yellow]warning:[/yellow] {p}", highlight=False)
    if not segments:
        from realsync_build.core.manifest import MissingInput

        raise MissingInput(
            f"no {split} segments under {root.shards} (shards/{split}-*.tar with segments in their json): "
            "run `realsync split` and `realsync export webdataset` first"
        )
    if opts.max_segments:
        segments = segments[: opts.max_segments]
    segments = shift_segments(segments, opts.window_start)
    notes = []
    if opts.window_start != "listed":
        notes.append(f"--window-start {opts.window_start}: each segment's windows start 2 s before its listed start (the StreamSync code's loader)")
    wanted = parse_iterations(opts.iterations)
    n = iterations_that_fit(segments, model.cfg.window_s, wanted[-1], opts.hop_s)
    if n < wanted[-1]:
        notes.append(f"clips too short for {wanted[-1]} windows at a {opts.hop_s:g} s hop (shortest "
                     f"{min(s.sample.duration_s for s in segments):.1f} s, offsets up to {MAX_OFFSET_S:g} s): evaluated {n} iterations")
    counts = [k for k in wanted if k <= n] or [n]
    if len(counts) < len(wanted):
        notes.append(f"window counts {', '.join(str(k) for k in wanted if k > n)} do not fit and are left out")
    dataset = SegmentWindows(segments, model.cfg, n, opts.hop_s)
    pred = predict(model, dataset, opts.batch_size, opts.workers, device, progress=opts.progress, label=f"evaluate {split}")
    for e in pred["errors"]:
        console.print(f"[yellow]segment failed:[/yellow] {e}", highlight=False)
    if not pred["ok"].any():
        raise RuntimeError(f"all {len(segments)} {split} segments failed to decode")
    shrunk = int((pred["hop_s"][pred["ok"]] < opts.hop_s - 1e-6).sum())
    if shrunk:
        notes.append(f"{shrunk} segments had their hop shrunk to fit the clip")
    from realsync_build.streamsync.scenario import stream_scenarios

    scenarios, scenario_rule = stream_scenarios(root, segments, n, opts.hop_s, model.cfg.window_s)
    metrics = {
        "split": split,
        "checkpoint": str(checkpoint),
        "model": {"config": model.cfg.name, "predictor": model.cfg.predictor, "stream_head": model.cfg.stream_head, "history": model.cfg.history,
                  "backprop_iterations": (ck.get("train_config") or {}).get("backprop_iterations") if isinstance(ck, dict) else None},
        "n_segments": int(pred["ok"].sum()),
        "n_failed": int((~pred["ok"]).sum()),
        "iterations": n,
        "hop_s": opts.hop_s,
        "window_start": opts.window_start,
        "audio_frontend": model.cfg.audio_frontend,
        **report(pred, segments, scenarios),
        "by_window_count": by_window_count(pred, counts),
        "scenario_rule": scenario_rule,
        "chance": chance_levels(pred["target"][pred["ok"]]),
        "baselines": floors(pred["target"][pred["ok"]], segment_groups(pred, segments, scenarios), train_labels(root), "train split's segment labels"),
        "errors": pred["errors"],
        "notes": notes,
    }
    if kind == SNAPSHOT_ONLY:  # a bare SparseSync file: it is the pretrained row; no streaming head
        metrics.pop("streamsync")
        for row in metrics["by_iteration"]:
            row.pop("streamsync")
        metrics["pretrained"] = {"source": str(checkpoint), **metrics.pop("snapshot")}
        notes.append("a bare SparseSync checkpoint: the pretrained and APA rows only (no streaming head, no fine-tuning)")
        opts = EvalOptions(**{**opts.__dict__, "ablation": False})
    elif opts.pretrained:
        pmodel, _, _ = model_for_evaluation(opts.pretrained)
        pmodel.to(device).eval()
        pdata = SegmentWindows(segments, pmodel.cfg, n, opts.hop_s)
        pred_pt = predict(pmodel, pdata, opts.batch_size, opts.workers, device, progress=opts.progress, label="pretrained")
        metrics["pretrained"] = {"source": str(opts.pretrained), **report(pred_pt, segments)["snapshot"]}
        del pmodel
    metrics["table3"] = table3_rows(metrics)
    if opts.ablation:
        metrics["ablation"] = {}
        for kind in ("audio_silenced", "video_blanked"):
            p = predict(model, dataset, opts.batch_size, opts.workers, device, ablation=kind, progress=opts.progress, label=kind)
            r = report(p, segments, scenarios)
            metrics["ablation"][kind] = {m: {k: r[m][k] for k in ("acc", "acc_pm1", "roc_auc", "map")} for m in METHODS}
        metrics["ablation"]["statement"] = ablation_statement(metrics)
    if opts.cost:
        metrics["cost"] = inference_cost(model, device, repeats=opts.cost_repeats)
    from realsync_build.core.adoption import read_adoption
    from realsync_build.streamsync.beside import compare, write_beside

    metrics["paper"] = compare(metrics, read_adoption(root))  # Tables 3-6: the paper's figures beside ours, floors under each
    atomic.write_text(out / "metrics.json", json.dumps(metrics, indent=2))
    atomic.write_text(out / "by_iteration.csv", by_iteration_table(metrics["by_iteration"]))
    plot_by_iteration(metrics["by_iteration"], out / "by_iteration.png", f"{split}: accuracy by iteration ({metrics['n_segments']} segments)")
    write_beside(root, metrics, out)  # paper_tables.md/.json beside metrics.json and in ROOT/report
    print_summary(metrics)
    return metrics
