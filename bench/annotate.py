"""Benchmark of ``realsync annotate`` on CPU: today's defaults and the new code, in one run.

Per clip, two schedules on the same detector, scorer and tagger weights:

* ``today``: the defaults before issue 22: PyTorch (``--engine torch``), faces at 5 fps
  everywhere (``--face-fps-idle 5 --face-fps-steady 5``), every speech-and-face run scored
  whole at stride 1 (``--sync-settle 0``);
* ``new``: the new defaults: ONNX Runtime on CPU (``--engine auto``), faces at 1 fps more than
  1 s from speech and at 2.5 fps near it while every face is found, runs settled once decisive
  (``--sync-settle 0.01``).

Figures: video seconds per CPU second (process time, all threads), CPU seconds per stage
(decode, speech, shots, faces, sync, events, labels), detector frames, lip-tower windows, and
``label_agreement``: the share of 25 fps frames whose label equals the ``today`` run's label
(whole-run, stride-1 scoring).

Clips: the shared TED (talking head) and tennis (no speech) clips, and a generated 5-minute
broadcast-like clip cut together from them (talking head, sport, and a voice-over: tennis
pictures under TED speech), encoded as preprocess writes clips.

Models: BlazeFace-back and YAMNet from the shared weights; SyncNet with the official weights
when the registry has them, else a network of the official layout with random values
(identical compute). With random weights every confidence is small, so the bench's default
thresholds accept every scored run (``--min-confidence 0 --max-offset 15``): the labels then
compare the schedules (faces, runs, what is scored), and the settling rule's saving is its
trivial case (acceptance is certain). The **stress check** isolates the settling rule at a
threshold inside the random-weight confidences: the new code scores every run whole
(``--sync-settle 0``), ``--min-confidence`` is set between the two whole-run confidences nearest
their median (``--max-offset 15``, so the confidence alone decides and about half the runs are
accepted), and the new code with settling is run again at that threshold; its labels are
compared with the whole-run labels at the same threshold (same faces, same engine).

CPU time is process time; torch and ONNX Runtime run one thread each, so it is not inflated
by idle spinning, and frames are decoded inline (``decode_queue=0``) so that each stage's CPU
seconds are its own (with the decoding thread, its time lands on the stage running beside it).  The machine's load is recorded with every figure.

    python bench/annotate.py [--seconds 300] [--json OUT] [--workdir /tmp/realsync-bench-annotate]
    python bench/annotate.py --clips ted,tennis --schedules new      # a subset
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from realsync_build import testdata  # noqa: E402
from realsync_build.stages.annotate.clip import annotate_media  # noqa: E402
from realsync_build.stages.annotate.config import AnnotateConfig  # noqa: E402
from realsync_build.media.ffmpeg import run_ffmpeg  # noqa: E402

STAGES = ("decode", "speech", "shots", "faces", "sync", "events", "labels")
CLIP_KEYS = ("ted", "tennis", "generated")


def _segment(args_in: list[str], vf: str, af: str, seconds: float, out: Path) -> Path:
    run_ffmpeg(
        [*args_in, "-t", f"{seconds}", "-vf", vf, "-af", af,
         "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", "-r", "25",
         "-c:a", "aac", "-ar", "16000", "-ac", "1", "-b:a", "64k", str(out)]
    )  # fmt: skip
    return out


def generated_clip(work: Path, seconds: int) -> Path:
    """A broadcast-like clip: TED talk, tennis, tennis under TED speech (voice-over), repeated, with hard cuts."""
    out = work / f"generated_{seconds}s.mp4"
    if out.exists():
        return out
    ted, tennis = testdata.testdata_file(testdata.TED), testdata.testdata_file(testdata.TENNIS)
    vf = "fps=25,scale=-2:256,pad=454:256:(ow-iw)/2:0,setsar=1,format=yuv420p"
    af = "aresample=16000,aformat=channel_layouts=mono"
    if ted is None or tennis is None:
        from realsync_build.media.synth import make_source

        return make_source(out, seconds, width=454, height=256, fps="25", sample_rate=16000, audio_channels=1)
    segs = [
        _segment(["-i", str(ted)], vf, af, 15.6, work / "seg_ted.mp4"),
        _segment(["-i", str(tennis)], vf, af, 10.0, work / "seg_tennis.mp4"),
        _segment(["-i", str(tennis), "-i", str(ted), "-map", "0:v", "-map", "1:a"], vf, af, 10.0, work / "seg_vo.mp4"),
    ]
    lst = work / "concat.txt"
    reps = int(np.ceil(seconds / 35.6)) + 1
    lst.write_text("".join(f"file '{s.name}'\n" for _ in range(reps) for s in segs))
    tmp = work / "concat.mp4"
    run_ffmpeg(["-f", "concat", "-safe", "0", "-i", str(lst), "-c", "copy", str(tmp)])
    part = work / f".generated_{seconds}s.part.mp4"
    run_ffmpeg(["-i", str(tmp), "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-c:a", "aac", "-ar", "16000", "-ac", "1", str(part)])
    part.replace(out)
    return out


def load_models():
    """Detectors and scorers for both engines (same weights), the tagger, and what SyncNet is."""
    import torch

    from realsync_build.models import factory, registry
    from realsync_build.models.syncnet import SyncNetScorer
    from realsync_build.models.syncnet_net import SyncNetV2

    torch.set_num_threads(1)
    models = registry.models_dir()
    shared = testdata.testdata_dir() / "models" if testdata.testdata_dir() else models
    root = models if (models / "blazeface").exists() else shared
    dets = {e: factory.get_face_detector("blazeface-back", "cpu", root=root, min_score=0.5, engine=e) for e in ("torch", "auto")}
    tagger = factory.get_event_tagger("yamnet", "cpu", root=root)
    try:
        net, what = factory.get_sync_scorer("cpu", 32, root=root).net, "official weights"
    except Exception:  # noqa: BLE001 - no weights here: same network, random values
        torch.manual_seed(0)
        net, what = SyncNetV2().eval(), "official layout, random values"
    scorers = {e: SyncNetScorer(net, device="cpu", batch_size=32, engine=e) for e in ("torch", "auto")}
    return dets, scorers, tagger, what


def frame_labels(res) -> list[str]:
    n = int(round(res.row["duration_s"] * 25))
    out = [""] * n
    for r in res.intervals:
        for f in range(int(round(r["start_s"] * 25)), min(n, int(round(r["end_s"] * 25)))):
            out[f] = r["label"]
    return out


def agreement(a: list[str], b: list[str]) -> float:
    n = max(len(a), len(b))
    return sum(x == y for x, y in zip(a, b)) / n if n else 1.0


def relabel(res, min_confidence: float, max_offset: int) -> list[str]:
    """The labels of a finished run's evaluations at other thresholds (no rescoring)."""
    from realsync_build.stages.annotate import labels as L
    from realsync_build.stages.annotate.speech import frame_mask

    n = int(round(res.row["duration_s"] * 25))
    spans = [L.TrackSpan(int(t["track_id"]), int(round(t["start_s"] * 25)), int(round(t["end_s"] * 25)) - 1) for t in res.tracks]
    code, _ = L.label_frames(n, frame_mask(res.speech, n), spans, res.windows, min_confidence, max_offset)
    return [L._NAMES[int(c)] for c in code]


def speech_box_difference(a, b) -> dict:
    """Smoothed face boxes of two runs on the speech frames both cover: the largest and the 99th
    percentile coordinate difference in pixels (tracks paired per frame by the best IoU)."""
    from realsync_build.stages.annotate.clip import tracks_from_rows
    from realsync_build.stages.annotate.speech import frame_mask
    from realsync_build.stages.annotate.tracks import iou, smoothed_boxes

    import pandas as pd

    n = int(round(a.row["duration_s"] * 25))
    speech = frame_mask(a.speech, n)

    def boxes(res) -> dict[int, list[np.ndarray]]:
        out: dict[int, list[np.ndarray]] = {}
        if not res.tracks:
            return out
        for t in tracks_from_rows(pd.DataFrame(res.tracks)):
            for k, box in enumerate(smoothed_boxes(t, t.first, t.last)):
                f = t.first + k
                if 0 <= f < n and speech[f]:
                    out.setdefault(f, []).append(box)
        return out

    ba, bb = boxes(a), boxes(b)
    diffs = []
    for f, la in ba.items():
        for box in la:
            best = max(bb.get(f, []), key=lambda o: iou(box, o), default=None)
            if best is not None and iou(box, best) > 0.3:
                diffs.append(float(np.abs(box - best).max()))
    if not diffs:
        return {"frames": 0, "max_px": None, "p99_px": None}
    return {"frames": len(diffs), "max_px": round(max(diffs), 2), "p99_px": round(float(np.percentile(diffs, 99)), 2)}


def warm_up(dets, scorers, tagger) -> None:
    """One small call to each model first, so one-time set-up is not billed to the first clip."""
    rng = np.random.default_rng(0)
    for det in dets.values():
        det.detect(rng.integers(0, 255, (2, 256, 454, 3), dtype=np.uint8))
    for sc in scorers.values():
        sc.score(rng.integers(0, 255, (12, 224, 224, 3), dtype=np.uint8), np.zeros(12 * 640, np.float32))
    tagger.tag(np.zeros(32000, np.float32), 2.0, 1.0)


def load_now() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def run_one(path: Path, cfg: AnnotateConfig, det, scorer, tagger) -> dict:
    load0 = load_now()
    t0, w0 = time.process_time(), time.monotonic()
    res = annotate_media(path.stem, path, cfg, det, scorer, tagger)
    cpu, wall = time.process_time() - t0, time.monotonic() - w0
    row = res.row
    return {
        "res": res,
        "duration_s": row["duration_s"], "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
        "video_s_per_cpu_s": round(row["duration_s"] / cpu, 3),
        "stages_cpu_s": {s: round(res.timings.get(s, 0.0), 2) for s in STAGES},
        "detector_frames": res.detected_frames, "runs_scored": res.scorer_calls, "runs_settled": res.settled_runs,
        "scored_frames": res.scored_frames, "lip_windows": res.lip_windows,
        "seconds": {k: round(float(row[k]), 2) if row.get(k) is not None else None for k in ("t_th_s", "t_vo_s", "t_other_s", "t_unscored_s")},
        "load_avg_1_5_15": {"before": load0, "after": load_now()},
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=300, help="length of the generated clip")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/realsync-bench-annotate"))
    ap.add_argument("--clips", default=",".join(CLIP_KEYS), help="comma list: ted, tennis, generated")
    ap.add_argument("--no-stress", action="store_true", help="skip the settling stress check (one more run of 'new' per clip)")
    ap.add_argument("--json", type=Path, help="write one JSON object, one entry per clip, to this file")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    dets, scorers, tagger, what = load_models()
    engines = {e: scorers[e].engine for e in scorers}
    print(f"models: blazeface-back, yamnet, SyncNet ({what}); 1 thread; engines today={engines['torch']} new={engines['auto']}", flush=True)
    warm_up(dets, scorers, tagger)
    paths = {"ted": testdata.testdata_file(testdata.TED), "tennis": testdata.testdata_file(testdata.TENNIS)}
    # permissive thresholds (random weights: see the module doc); BlazeFace scores the small shared
    # faces 0.6-0.95, so the S3FD-scale face defaults (0.9, 50 px) would drop them
    # decode_queue=0: frames are decoded inline, so decode CPU time is billed to "decode", not to
    # whatever stage runs beside the decoding thread (process time counts every thread)
    base = AnnotateConfig(face_detector="blazeface-back", events="yamnet", min_confidence=0.0, max_offset=15, min_face_score=0.5,
                          min_face_px=20.0, decode_queue=0)  # fmt: skip
    today = replace(base, engine="torch", face_fps_idle=base.face_fps, face_fps_steady=base.face_fps, sync_settle=0.0)
    new = replace(base, engine="auto")
    machine = f"{platform.machine()} {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}"
    out: dict[str, dict] = {}
    for key in args.clips.split(","):
        path = paths.get(key) if key != "generated" else generated_clip(args.workdir, args.seconds)
        if path is None:
            print(f"{key}: shared clip missing, skipped")
            continue
        a = run_one(path, today, dets["torch"], scorers["torch"], tagger)
        b = run_one(path, new, dets["auto"], scorers["auto"], tagger)
        la, lb = frame_labels(a["res"]), frame_labels(b["res"])
        entry = {
            "clip": path.name,
            "duration_s": a["duration_s"],
            "video_s_per_cpu_s": {"today": a["video_s_per_cpu_s"], "new": b["video_s_per_cpu_s"]},
            "speedup": round(a["cpu_s"] / b["cpu_s"], 2),
            "label_agreement": round(agreement(la, lb), 5),
            "speech_face_boxes": speech_box_difference(a["res"], b["res"]),
        }
        stress = None
        if b["runs_scored"] and not args.no_stress:
            # the settling rule alone: the new code scoring every run whole, then settling, at a
            # threshold between the two whole-run confidences nearest the median (never on one)
            w = run_one(path, replace(new, sync_settle=0.0), dets["auto"], scorers["auto"], tagger)
            confs = sorted(x.confidence for x in w["res"].windows)
            mid = len(confs) // 2
            c_star = float((confs[mid - 1] + confs[mid]) / 2) if len(confs) > 1 else float(confs[0]) * 0.5
            whole = relabel(w["res"], c_star, 15)
            s = run_one(path, replace(new, min_confidence=c_star, max_offset=15), dets["auto"], scorers["auto"], tagger)
            stress = {
                "min_confidence": round(c_star, 5), "max_offset": 15,
                "label_agreement": round(agreement(whole, frame_labels(s["res"])), 5),
                "runs_scored": s["runs_scored"], "runs_settled": s["runs_settled"], "lip_windows": s["lip_windows"],
                "lip_windows_whole": w["lip_windows"],
                "video_s_per_cpu_s": s["video_s_per_cpu_s"], "video_s_per_cpu_s_whole": w["video_s_per_cpu_s"],
                "talking_head_s": {"whole_run": round(whole.count("talking_head") / 25, 2), "settled": s["seconds"]["t_th_s"]},
            }  # fmt: skip
        for name, r in (("today", a), ("new", b)):
            entry[name] = {k: v for k, v in r.items() if k != "res"}
        entry["stress"] = stress
        entry.update(machine=machine, models=what, engines={"today": engines["torch"], "new": engines["auto"]},
                     date_utc=time.strftime("%Y-%m-%d %H:%M", time.gmtime()))  # fmt: skip
        out[key] = entry
        print(f"\n{key} ({path.name}, {a['duration_s']:.1f} s)")
        for name in ("today", "new"):
            r = entry[name]
            per = "  ".join(f"{s} {r['stages_cpu_s'][s]:.1f}" for s in STAGES)
            print(f"  {name:<5} {r['video_s_per_cpu_s']:6.2f} video s per CPU s ({r['cpu_s']:.1f} CPU s, wall {r['wall_s']:.1f} s, load {r['load_avg_1_5_15']['before']})")
            print(f"        CPU s per stage: {per}")
            print(f"        detector frames {r['detector_frames']}, runs scored {r['runs_scored']} (settled {r['runs_settled']}), lip windows {r['lip_windows']}, seconds {r['seconds']}")
        print(f"  speed-up {entry['speedup']:.2f}x; same label as today on {100 * entry['label_agreement']:.2f}% of frames; "
              f"smoothed face boxes on speech frames vs today: {entry['speech_face_boxes']}")  # fmt: skip
        if stress:
            print(f"  stress (C = {stress['min_confidence']:.4f}, M = 15): same label as whole-run scoring on {100 * stress['label_agreement']:.2f}% of frames; "
                  f"{stress['runs_settled']}/{stress['runs_scored']} runs settled, {stress['lip_windows']} lip windows (whole runs: {stress['lip_windows_whole']}); "
                  f"talking head {stress['talking_head_s']}")  # fmt: skip
        sys.stdout.flush()
    if args.json:
        tmp = args.json.with_name(f".{args.json.name}.tmp")
        tmp.write_text(json.dumps(out, indent=1) + "\n")
        tmp.replace(args.json)
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
