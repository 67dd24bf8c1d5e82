"""``realsync monitor``: watch a file or live stream and report its audio/video offset hop by hop."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from realsync_build.cli.common import ProgressOpt, app, fail


@app.command()
def monitor(
    input: Annotated[str, typer.Argument(metavar="INPUT", help="A file, - for stdin, or any URL ffmpeg opens (HLS, RTMP, SRT, UDP, HTTP).", show_default=False)],
    checkpoint: Annotated[Optional[Path], typer.Option("--checkpoint", help="Mode 1: a StreamSync checkpoint from realsync train (RUN/best.pt).")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Mode 1: a public SparseSync checkpoint (registry name sparsesync-... or its file), run with APA.")] = None,
    reference_audio: Annotated[Optional[Path], typer.Option("--reference-audio", help="Mode 2: the reference audio (original mix or M&E bed); no model needed.")] = None,
    reference_video_offset: Annotated[Optional[float], typer.Option(
        "--reference-video-offset",
        help="Mode 2: the reference's own A/V offset in ms, the sign of offset_ms (+: its audio leads the picture; 0: in sync). "
        "Given, offset_ms is the input's A/V offset (this minus the input's audio delay behind the reference); "
        "without it, minus that delay.")] = None,
    jsonl: Annotated[Optional[Path], typer.Option("--jsonl", help="Write one JSON object per hop: t_s, offset_ms, class_offset_ms, confidence, alert (- for stdout).")] = None,
    report: Annotated[Optional[Path], typer.Option("--report", help="At the end write DIR/timeline.png and DIR/summary.json.")] = None,
    hop: Annotated[float, typer.Option("--hop", min=0.04, help="Seconds between measurements (each over the last window).")] = 2.0,
    window: Annotated[Optional[float], typer.Option("--window", min=1.0, help="Mode 2 window in seconds (mode 1 uses the model's, 5 s).")] = None,
    max_delay_ms: Annotated[float, typer.Option("--max-delay-ms", min=50.0, help="Mode 2: largest delay searched, +/- ms.")] = 2000.0,
    lead_ms: Annotated[float, typer.Option("--lead-ms", min=0.0, help="Tolerated sound-before-picture in ms (BT.1359: 45).")] = 45.0,
    lag_ms: Annotated[float, typer.Option("--lag-ms", min=0.0, help="Tolerated sound-after-picture in ms (BT.1359: 125).")] = 125.0,
    persist: Annotated[int, typer.Option("--persist", min=1, help="Consecutive hops beyond a limit that start an alert (and inside that end it).")] = 2,
    hysteresis_ms: Annotated[float, typer.Option("--hysteresis-ms", min=0.0, help="An alert ends only once the offset is this far inside the limits.")] = 15.0,
    min_hop_confidence: Annotated[float, typer.Option(
        "--min-hop-confidence", min=0.0, max=1.0,
        help="Hops whose confidence (0-1: the top offset class's probability in mode 1, the correlation peak's strength in mode 2) "
        "is below this never start or end an alert. Not annotate's --min-confidence, a SyncNet score (about 3).")] = 0.3,
    min_confidence_old: Annotated[Optional[float], typer.Option(
        "--min-confidence", min=0.0, max=1.0, hidden=True, help="Deprecated: --min-hop-confidence.")] = None,
    realtime: Annotated[bool, typer.Option("--realtime", help="Read a file at real-time speed (live inputs always are).")] = False,
    stall_timeout: Annotated[float, typer.Option("--stall-timeout", min=0.1, help="Seconds without data that count as a stall (state reset, logged).")] = 10.0,
    reconnect: Annotated[int, typer.Option("--reconnect", min=0, help="Reopen a network input this many times after a stall or error.")] = 3,
    threads: Annotated[Optional[int], typer.Option("--threads", min=1, help="Torch CPU threads for mode 1.")] = None,
    progress: ProgressOpt = True,
) -> None:
    """Watch INPUT and report its audio/video offset every hop (offset_ms < 0: the audio lags the video, > 0: it leads; the sign of offset_sec).

    Mode 1 (--checkpoint or --model) runs a sync model with its streaming state; mode 2 (--reference-audio) measures the delay of INPUT's audio against a reference track, no model needed.

    Alerts follow the ITU-R BT.1359 limits by default. Exit code 0, or 3 when any alert fired. See docs/monitor.md.
    """
    from realsync_build.monitor.alerts import AlertRules
    from realsync_build.monitor.model import ModelUnavailable
    from realsync_build.monitor.run import MonitorOptions, run_monitor

    if min_confidence_old is not None:  # the old spelling works for this release, with a warning
        from realsync_build.core.ui import console

        console.print("[yellow]warning:[/yellow] monitor --min-confidence is deprecated and will be removed in the next release: "
                      "use --min-hop-confidence (the same 0-1 value)", highlight=False, soft_wrap=True)  # fmt: skip
        min_hop_confidence = min_confidence_old
    n_modes = sum(x is not None for x in (checkpoint, model, reference_audio))
    if n_modes != 1:
        fail("give exactly one of --checkpoint, --model (mode 1) or --reference-audio (mode 2)")
    if reference_video_offset is not None and reference_audio is None:
        fail("--reference-video-offset applies to mode 2: give --reference-audio too")
    if model is not None and not model.startswith("sparsesync") and not Path(model).is_file():
        fail(f"--model {model!r}: give a public SparseSync checkpoint (a sparsesync-... registry name or its file)")
    if input != "-" and "://" not in input and not Path(input).exists():
        fail(f"input {input} not found")
    try:
        rules = AlertRules(lead_ms=lead_ms, lag_ms=lag_ms, persist=persist, hysteresis_ms=hysteresis_ms, min_confidence=min_hop_confidence)
    except ValueError as exc:
        fail(str(exc))
    opts = MonitorOptions(
        input=input, checkpoint=checkpoint, model=model, reference_audio=reference_audio, reference_video_offset_ms=reference_video_offset,
        jsonl=jsonl, report=report, hop_s=hop, window_s=window, max_delay_ms=max_delay_ms, rules=rules, realtime=realtime,
        stall_timeout_s=stall_timeout, reconnects=reconnect, progress=progress, threads=threads,
    )
    try:
        result = run_monitor(opts)
    except ModelUnavailable as exc:
        fail(str(exc))
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    if not result.hops and not result.summary.get("ended_cleanly", True):
        stops = [e[len("stopping: "):] for e in result.events if e.startswith("stopping: ")]
        fail(stops[-1] if stops else f"no complete window could be read from {input}")
    _print_summary(result.summary)
    raise typer.Exit(result.exit_code)


def _print_summary(s: dict) -> None:
    from realsync_build.core.ui import console
    from realsync_build.monitor.outputs import offset_words

    share = s.get("share_within_limits")
    longest = s.get("longest_alert_s")
    med = s.get("median_offset_ms")
    console.print(
        f"monitor: {s['hops']} hops over {s['stream_s']:.1f} s of stream; median offset "
        f"{'n/a' if med is None else f'{med:+.0f} ms ({offset_words(med)})'}; within limits "
        f"{'n/a' if share is None else f'{100 * share:.0f}%'} of confident hops; alerts {s['alert_count']}"
        f"{'' if not s['alert_count'] else f' (longest {longest:.1f} s)' if longest is not None else ''}"
        f"{'' if s.get('ended_cleanly', True) else '; the input ended with an error or stalled'}",
        highlight=False, soft_wrap=True,
    )
