"""``realsync demo``: the whole pipeline on an embedded default, in minutes.

Sources: two generated broadcast-like videos (720p30, moving pattern with
speech-like audio and flash/click events), plus the real clips of
``../shared/testdata/media`` when present.  The demo uses 10 s clips so the
short real clips yield clips too; real datasets use 300 s.

Each stage, once built, adds a step to :data:`STEPS`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from realsync_build.media.synth import make_source
from realsync_build.core import atomic
from realsync_build.core.root import DatasetRoot
from realsync_build.core.stage import RunOptions, print_report
from realsync_build.testdata import shared_media
from realsync_build.core.ui import console

DEMO_CLIP_SECONDS = 10
DEMO_CATEGORIES = {"demo_sports": "sports", "demo_news": "news", "shared_media": "news"}


@dataclass
class DemoContext:
    root: DatasetRoot
    sources: Path
    workers: int | None = None
    progress: bool = True
    results: dict[str, str] = field(default_factory=dict)

    def options(self) -> RunOptions:
        return RunOptions(workers=self.workers, progress=self.progress)


def make_demo_sources(folder: Path) -> Path:
    """Generated sources (one per demo channel) plus links to the shared real clips."""
    folder.mkdir(parents=True, exist_ok=True)
    generated = {
        "demo_sports/match_0001.mp4": dict(duration_s=32, events=[1.3, 4.1, 9.7, 12.2, 17.9, 23.4, 28.8]),
        "demo_news/bulletin_0001.mp4": dict(duration_s=21, pattern="testsrc", events=[2.5, 8.8, 15.1]),
    }
    for rel, kw in generated.items():
        out = folder / rel
        if not out.exists():
            tmp = out.with_name(f".{out.stem}.tmp-demo{out.suffix}")
            make_source(tmp, **kw)
            atomic.commit(tmp, out)
    for src in shared_media():
        link = folder / "shared_media" / src.name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(src)
    return folder


def step_preprocess(ctx: DemoContext) -> None:
    from realsync_build.stages.preprocess import PreprocessConfig, run_preprocess

    cfg = PreprocessConfig(clip_seconds=DEMO_CLIP_SECONDS, category_map=DEMO_CATEGORIES)
    report = run_preprocess(ctx.root, ctx.sources, cfg, ctx.options())
    print_report(report)
    if report.done + report.skipped_done == 0:  # a rerun finds them done
        raise RuntimeError("preprocess produced no clips")
    ctx.results["clips"] = str(ctx.root.manifest("clips"))


def _demo_models_dir() -> Path | None:
    """$REALSYNC_MODELS_DIR, else the shared testdata models folder (None when neither exists)."""
    from realsync_build.testdata import testdata_dir

    if os.environ.get("REALSYNC_MODELS_DIR"):
        return Path(os.environ["REALSYNC_MODELS_DIR"])
    base = testdata_dir()
    return base / "models" if base is not None and (base / "models").is_dir() else None


def step_annotate(ctx: DemoContext) -> None:
    """annotate with the fast backends (BlazeFace back + YAMNet); SyncNet when its weights are there."""
    from realsync_build.models import registry

    models = _demo_models_dir()
    if models is None:
        console.print("annotate skipped: no models folder (set REALSYNC_MODELS_DIR; see `realsync models list`)")
        return
    missing = []
    for name in ("blazeface-back", "yamnet"):
        try:
            registry.model_files(name, models)
        except Exception as exc:  # noqa: BLE001 - ModelMissing / hash mismatch: say why and skip
            missing.append(str(exc))
    if missing:
        console.print(f"annotate skipped: {'; '.join(missing)}")
        return
    from realsync_build.stages.annotate.config import AnnotateConfig
    from realsync_build.stages.annotate.run import run_annotate

    # the shared LRS3 TED face is 28-48 px and BlazeFace-back scores it 0.6-0.95, below the
    # defaults (50 px, 0.9 on S3FD's scale): the demo lowers both so that face is found
    cfg = AnnotateConfig(face_detector="blazeface-back", events="yamnet", min_face_score=0.5, min_face_px=20.0)
    report, counts = run_annotate(ctx.root, cfg, ctx.options(), models_dir=models)  # the folder travels in every task: nothing is set in os.environ
    print_report(report)
    console.print("  " + ", ".join(f"{k}: {n} rows" for k, n in counts.items()))
    for kind in ("annotations", "intervals", "events"):
        ctx.results[kind] = str(ctx.root.manifest(kind))


# The demo's clips are 10 s: a segment grid from 10 s would give none, so the demo
# starts it at 2 s with a 1 s stride (starts 2 and 3: window and +/-2 s shift fit).
DEMO_SEGMENT_START_S = 2
DEMO_SEGMENT_STRIDE_S = 1


def step_split(ctx: DemoContext) -> None:
    from realsync_build.core.segments import SegmentConfig
    from realsync_build.stages.split.run import SplitConfig, print_result, run_split

    cfg = SplitConfig(seed=0, segments=SegmentConfig(start_s=DEMO_SEGMENT_START_S, stride_s=DEMO_SEGMENT_STRIDE_S))
    result = run_split(ctx.root, cfg)
    print_result(result)
    if result.segments.empty:
        raise RuntimeError("split produced no evaluation segments")
    ctx.results["splits"] = str(ctx.root.manifest("splits"))
    ctx.results["segments"] = str(ctx.root.manifest("segments"))


def step_export_webdataset(ctx: DemoContext) -> None:
    from realsync_build.stages.export.webdataset import run_export_webdataset

    report = run_export_webdataset(ctx.root, progress=ctx.progress)
    console.print(f"{report.samples} samples in {len(report.shard_paths)} shards, {report.failed} failed")
    if report.failed or not report.samples:
        raise RuntimeError(f"export webdataset failed: {report.errors[:3]}")
    ctx.results["shards"] = str(ctx.root.shards)


def step_export_streamsync(ctx: DemoContext) -> None:
    from realsync_build.stages.export.streamsync import run_export_streamsync

    report = run_export_streamsync(ctx.root, ctx.root.root / "streamsync")
    console.print(", ".join(f"{k}: {v} segments" for k, v in report.per_split.items()))
    ctx.results["streamsync"] = str(ctx.root.root / "streamsync")


def step_stats(ctx: DemoContext) -> None:
    from realsync_build.stages.stats import run_stats
    from realsync_build.stages.stats.tables import to_rich

    res = run_stats(ctx.root, name="realsync demo")
    console.print(to_rich(res.table2, "Table 2: per channel", res.unit))
    ctx.results["report"] = str(res.index)


def step_train(ctx: DemoContext) -> None:
    """A tiny-config StreamSync run: two steps (one per phase) only show that the pipeline runs.

    Kept this small so the demo takes about a minute on 2 cores: the first steps of a CPU run
    pay torch's one-time set-up, and every further step of batch 2 x 2 windows costs seconds."""
    from realsync_build.streamsync.train import TrainConfig, run_train

    run = ctx.root.runs / "demo"
    cfg = TrainConfig(history=2, batch_size=2, phase1_steps=1, phase2_epochs=1, backprop_iterations=1, max_steps=2,
                      eval_max_segments=4, workers=0, lr=1e-3, progress=ctx.progress)  # fmt: skip
    run_train(ctx.root, run, cfg)
    ctx.results["run"] = str(run)


def step_evaluate(ctx: DemoContext) -> None:
    import json

    from realsync_build.streamsync.evaluate import EvalOptions, run_evaluate

    out = ctx.root.runs / "demo" / "eval-test"
    run_evaluate(ctx.root, ctx.root.runs / "demo" / "best.pt", "test", out,
                 EvalOptions(iterations=18, cost_repeats=2, progress=ctx.progress))  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    for method in ("snapshot", "apa", "streamsync"):
        m = metrics[method]
        console.print(f"  {method:<10} acc {m['acc']:.2f}  acc+-1 {m['acc_pm1']:.2f}  (a demo-sized run: the numbers mean nothing)")
    zero = (metrics.get("baselines") or {}).get("always_zero")
    if zero:  # the floor beside every figure
        console.print(f"  {'floor':<10} acc {zero['acc']:.2f}  acc+-1 {zero['acc_pm1']:.2f}  (always answering offset 0, same segments)")
    ctx.results["metrics"] = str(out / "metrics.json")


# (name, function) in pipeline order; later stages append theirs.
STEPS: list[tuple[str, Callable[[DemoContext], None]]] = [
    ("preprocess", step_preprocess),
    ("annotate", step_annotate),
    ("split", step_split),
    ("export webdataset", step_export_webdataset),
    ("export streamsync", step_export_streamsync),
    ("train", step_train),
    ("evaluate", step_evaluate),
    ("stats", step_stats),  # last: the report shows the evaluation too
]


def _cpu_s() -> float:
    """CPU seconds of this process and its finished workers (user + system): a load-independent cost."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _load() -> str:
    try:
        return ", load average %.1f %.1f %.1f" % os.getloadavg()
    except OSError:
        return ""


def run_demo(root: DatasetRoot, workers: int | None = None, progress: bool = True) -> DemoContext:
    root.root.mkdir(parents=True, exist_ok=True)
    console.print(
        f"[bold]realsync demo[/bold] in {root.root} (clips of {DEMO_CLIP_SECONDS} s so the short real clips count; "
        "real datasets use 300 s)"
    )
    start, cpu_start = time.monotonic(), _cpu_s()
    ctx = DemoContext(root=root, sources=make_demo_sources(root.root / "demo_sources"), workers=workers, progress=progress)
    console.print(f"sources ready in {time.monotonic() - start:.1f} s ({_cpu_s() - cpu_start:.1f} CPU s)")
    for name, step in STEPS:
        t0, c0 = time.monotonic(), _cpu_s()
        console.rule(f"[bold]{name}")
        step(ctx)
        console.print(f"{name} took {time.monotonic() - t0:.1f} s ({_cpu_s() - c0:.1f} CPU s)")
    load = _load()
    console.print(f"demo took {time.monotonic() - start:.1f} s, {_cpu_s() - cpu_start:.1f} CPU s on {os.cpu_count()} cores{load}")
    console.rule("[bold]done")
    for label, where in ctx.results.items():
        console.print(f"  {label:<12} {where}")
    return ctx
