"""The monitor loop: reader -> window buffer -> (model | reference delay) -> alerts -> outputs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from realsync_build.core.avformat import FPS, SAMPLE_RATE
from realsync_build.monitor.activity import audio_active, video_active
from realsync_build.monitor.alerts import AlertRules, AlertTracker
from realsync_build.monitor.outputs import HopResult, JsonlLog, Panel, summarize, write_report
from realsync_build.monitor.source import Chunk, Event, MediaSpec, Reader, describe, is_network
from realsync_build.monitor.windows import MAX_SKEW_S, WindowBuffer

EXIT_ALERT = 3
MODE2_SAMPLE_RATE = SAMPLE_RATE  # the reference audio is compared at the clip format's rate


@dataclass
class MonitorOptions:
    input: str
    checkpoint: Path | None = None
    model: str | None = None
    reference_audio: Path | None = None
    reference_video_offset_ms: float | None = None
    jsonl: Path | None = None
    report: Path | None = None
    hop_s: float = 2.0
    window_s: float | None = None  # mode 2's window (mode 1 uses the model's)
    max_delay_ms: float = 2000.0
    rules: AlertRules = field(default_factory=AlertRules)
    realtime: bool = False
    stall_timeout_s: float = 10.0
    reconnects: int = 3
    progress: bool = True
    threads: int | None = None


@dataclass
class MonitorResult:
    hops: list[HopResult]
    summary: dict
    events: list[str]
    exit_code: int


class _Logger:
    """Events (stalls, reconnects, resets) go to the console and into the summary."""

    def __init__(self, panel: Panel | None = None) -> None:
        self.lines: list[str] = []
        self.panel = panel

    def __call__(self, msg: str) -> None:
        from rich.markup import escape

        from realsync_build.core.ui import console

        self.lines.append(msg)
        console.print(f"[yellow]monitor:[/yellow] {escape(msg)}", highlight=False, soft_wrap=True)
        if self.panel is not None:
            self.panel.event(msg)


class _ModelMode:
    def __init__(self, opts: MonitorOptions) -> None:
        from realsync_build.monitor.model import load_model

        if opts.threads:
            import torch

            torch.set_num_threads(opts.threads)
        self.model = load_model(opts.checkpoint, opts.model)
        s = self.model.spec
        self.spec = MediaSpec(fps=s.fps, sample_rate=s.sample_rate, video_size=s.video_size, audio=True)
        self.window_s = s.window_s
        self.label = f"model {self.model.name}"

    def reset(self) -> None:
        self.model.reset()

    def hop(self, video, audio, end_s: float) -> tuple[float | None, float | None, float]:
        from realsync_build.monitor.model import class_offset_ms, expected_offset_ms

        probs = self.model.hop(video, audio)
        conf = float(probs.max()) if (audio_active(audio) and video_active(video)) else 0.0
        return expected_offset_ms(probs), class_offset_ms(probs), conf


class _ReferenceMode:
    def __init__(self, opts: MonitorOptions) -> None:
        from realsync_build.monitor.refdelay import ReferenceDelay, load_reference

        sr = MODE2_SAMPLE_RATE
        self.window_s = opts.window_s or 5.0
        ref = load_reference(opts.reference_audio, sr)
        self.est = ReferenceDelay(ref, sr, window_s=self.window_s, max_delay_s=opts.max_delay_ms / 1000.0)
        self.spec = MediaSpec(fps=FPS, sample_rate=sr, video_size=0, audio=True)
        self.add_ms = opts.reference_video_offset_ms or 0.0
        self.label = f"reference {Path(opts.reference_audio).name}" + (
            f" (A/V offset, reference {self.add_ms:+g} ms)" if opts.reference_video_offset_ms is not None else " (audio-to-audio delay)")

    def reset(self) -> None:
        pass

    def hop(self, video, audio, end_s: float) -> tuple[float | None, float | None, float]:
        delay, conf = self.est.estimate(audio, end_s)  # > 0: the input's audio plays after the reference's
        # offset_ms has the sign of offset_sec (+ audio leads): a delay behind the reference is a lag
        return (None if delay is None else self.add_ms - delay), None, conf


def run_monitor(opts: MonitorOptions) -> MonitorResult:
    """Run until the input ends (or stalls past the reconnect budget); returns the hops and the exit code."""
    mode = _ReferenceMode(opts) if opts.reference_audio is not None else _ModelMode(opts)
    spec = mode.spec
    live = opts.input == "-" or is_network(opts.input)
    buf = WindowBuffer(mode.window_s, opts.hop_s, spec.fps, spec.sample_rate, video=bool(spec.video_size), audio=True,
                       max_skew_s=MAX_SKEW_S if live else None)
    tracker = AlertTracker(opts.rules)
    panel = Panel(opts.progress, f"realsync monitor: {describe(opts.input)} [{mode.label}]", opts.hop_s, opts.rules)
    log = _Logger(panel)
    jsonl = JsonlLog(opts.jsonl)
    hops: list[HopResult] = []
    reader = Reader(opts.input, spec, realtime=opts.realtime, timeout_s=opts.stall_timeout_s, reconnects=opts.reconnects).start()
    base_s = 0.0  # stream time of the current segment's origin (segments follow each other)
    seg_end_s = 0.0
    stalls = 0
    ended_ok = True
    hop_ms: list[float] = []
    wall0 = time.monotonic()
    try:
        for item in reader.items(opts.stall_timeout_s):
            if item is None:
                stalls += 1
                log(f"stalled: no data for {stalls * opts.stall_timeout_s:.0f} s at stream time {base_s + seg_end_s:.1f} s; streaming state reset")
                mode.reset()
                if stalls > opts.reconnects:
                    log("giving up on the stalled input")
                    ended_ok = False
                    break
                continue
            stalls = 0
            if isinstance(item, Event):
                if item.kind == "segment":
                    if item.info.get("segment", 1) > 1:
                        base_s += seg_end_s
                        log(f"{item.message}: new timeline at stream time {base_s:.1f} s; streaming state reset")
                    buf.reset()
                    mode.reset()
                    seg_end_s = 0.0
                elif item.kind == "error":
                    log(item.message)
                elif item.kind == "end":
                    if not item.ok:
                        ended_ok = False
                        log(f"stopping: {item.message}")
                continue
            assert isinstance(item, Chunk)
            buf.put(item.kind, item.start, item.data)
            seg_end_s = max(seg_end_s, buf.available_s())
            for end_s in buf.due():
                t0 = time.perf_counter()
                video, audio = buf.window(end_s)
                offset, cls, conf = mode.hop(video, audio, end_s)
                hop_ms.append((time.perf_counter() - t0) * 1000.0)
                t_s = base_s + end_s
                active = tracker.update(t_s, offset, conf, opts.hop_s)
                hop = HopResult(t_s, offset, cls, conf, active)
                hops.append(hop)
                jsonl.write(hop)
                panel.update(hop)
    except KeyboardInterrupt:
        log("interrupted")
    finally:
        reader.close()
        jsonl.close()
        panel.close()
    end_t = hops[-1].t_s if hops else 0.0
    tracker.close(end_t)
    if not hops:
        log(f"no complete {mode.window_s:g} s window was read from {describe(opts.input)}")
    extra = {
        "input": describe(opts.input),
        "mode": mode.label,
        "stream_s": round(base_s + seg_end_s, 3),
        "ended_cleanly": ended_ok,
        "events": log.lines,
        "wall_s": round(time.monotonic() - wall0, 3),
        "hop_compute_ms_median": float(np.median(hop_ms)) if hop_ms else None,
    }
    summary = summarize(hops, tracker.spans, opts.hop_s, opts.rules, extra)
    if opts.report is not None:
        write_report(opts.report, hops, summary, opts.rules)
    code = EXIT_ALERT if tracker.fired else 0
    return MonitorResult(hops, summary, log.lines, code)
