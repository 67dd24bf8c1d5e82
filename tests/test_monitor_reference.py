"""Mode 2 (reference audio): a dubbed, re-encoded input against its effects bed, end to end.

The input is the bed delayed by +240 ms for 30 s then -120 ms, with level changes, a
different voice-like signal on top and AAC coding; the CLI's JSONL medians over each part
must recover each delay within 20 ms, reported in the sign of ``offset_sec``: a delay of
+240 ms (the input's audio lags) reads ``offset_ms`` -240.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from realsync_build.monitor.alerts import AlertRules, AlertTracker
from realsync_build.monitor.refdelay import ReferenceDelay
from realsync_build.monitor.run import MonitorOptions, run_monitor
from realsync_build.monitor.synth import dub_scene, write_audio
from tests.monitor_support import realsync

SR = 16000


@pytest.fixture(scope="module")
def dubbed(tmp_path_factory):
    d = tmp_path_factory.mktemp("dub")
    ref, inp = dub_scene(60.0, [(0.0, 0.24), (30.0, -0.12)], sr=SR, seed=3, voice_level=0.35, gains=((0, 1.0), (12, 0.3), (40, 1.7)))
    return write_audio(d / "ref.wav", ref, SR), write_audio(d / "input.m4a", inp, SR, codec="aac", bitrate="48k"), ref, inp


def test_reference_mode_recovers_changing_delays_through_the_cli(dubbed, tmp_path):
    ref_wav, input_m4a, _, _ = dubbed
    out = tmp_path / "hops.jsonl"
    p = realsync("monitor", input_m4a, "--reference-audio", ref_wav, "--jsonl", out, "--no-progress", "--report", tmp_path / "rep")
    assert p.returncode == 3, p.stderr  # both delays are beyond the BT.1359 limits
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 28  # hops ending at 5, 7, ..., 59 s
    assert all(set(r) == {"t_s", "offset_ms", "class_offset_ms", "confidence", "alert"} for r in rows)
    first = [r["offset_ms"] for r in rows if r["t_s"] <= 30.0 and r["offset_ms"] is not None]
    second = [r["offset_ms"] for r in rows if r["t_s"] - 5.0 >= 30.0 and r["offset_ms"] is not None]
    print("medians", np.median(first), np.median(second), "n", len(first), len(second))
    assert abs(np.median(first) + 240.0) <= 20.0  # delayed 240 ms: audio lags, offset_ms -240
    assert abs(np.median(second) - 120.0) <= 20.0  # 120 ms early: audio leads, offset_ms +120
    assert all(r["alert"] for r in rows[1:])  # sustained lag, then a lead beyond 45 ms
    summary = json.loads((tmp_path / "rep" / "summary.json").read_text())
    assert summary["alert_count"] == 1 and summary["share_within_limits"] == 0.0
    assert (tmp_path / "rep" / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_reference_video_offset_turns_the_delay_into_an_av_offset_and_in_sync_input_exits_0(dubbed, tmp_path):
    ref_wav, _, ref, _ = dubbed
    # the reference itself (re-encoded, quieter): delay 0 -> in sync, exit 0
    same = write_audio(tmp_path / "same.m4a", 0.5 * ref[: 20 * SR], SR, codec="aac")
    out = tmp_path / "a.jsonl"
    res = run_monitor(MonitorOptions(input=str(same), reference_audio=ref_wav, jsonl=out, progress=False))
    assert res.exit_code == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 8 and all(abs(r["offset_ms"]) <= 2 and not r["alert"] for r in rows)
    out2 = tmp_path / "b.jsonl"
    res = run_monitor(MonitorOptions(input=str(same), reference_audio=ref_wav, reference_video_offset_ms=200.0, jsonl=out2,
                                     progress=False, rules=AlertRules(persist=3)))
    assert res.exit_code == 3
    rows = [json.loads(x) for x in out2.read_text().splitlines()]
    assert all(abs(r["offset_ms"] - 200) <= 2 for r in rows)
    assert [r["alert"] for r in rows[:4]] == [False, False, True, True]


def test_silence_gives_zero_confidence_not_a_delay():
    rng = np.random.default_rng(0)
    ref = (0.1 * rng.standard_normal(10 * SR)).astype(np.float32)
    est = ReferenceDelay(ref, SR)
    assert est.estimate(np.zeros(5 * SR, np.float32), 6.0) == (None, 0.0)
    # unrelated noise: a peak, but no confidence
    _, conf = est.estimate((0.1 * rng.standard_normal(5 * SR)).astype(np.float32), 6.0)
    assert conf < 0.3


def test_alert_persistence_and_hysteresis():
    tr = AlertTracker(AlertRules(persist=2, hysteresis_ms=15))
    seq = [0, -200, 0, -200, -200, -200, -120, -118, -100, -100, -100, None, -300]  # audio lagging (offset_ms < 0)
    conf = [1.0] * 11 + [0.0, 0.1]
    states = [tr.update(2.0 * i, o, c, 2.0) for i, (o, c) in enumerate(zip(seq, conf))]
    # one lone -200 does not alert; two do; -120/-118 are inside the 125 ms lag limit but not 15 ms inside it: no end;
    # two -100s end it
    assert states == [False, False, False, False, True, True, True, True, True, False, False, False, False]
    assert tr.spans == [[6.0, 16.0]] and tr.fired == 1
    # the lead side: +50 is beyond the 45 ms lead limit, -50 is well inside the lag limit
    rules = AlertRules()
    assert rules.outside(50.0) and not rules.outside(-50.0) and rules.outside(-130.0) and not rules.outside(40.0)


def test_live_panel_renders_offset_alert_and_last_minute():
    import io

    from rich.console import Console

    from realsync_build.monitor.outputs import HopResult, Panel, sparkline

    assert sparkline([-500.0, 0.0, None, 500.0]) == "▁▅ █"
    panel = Panel(False, "t", 2.0, AlertRules())
    for i, off in enumerate([0.0, -300.0, None]):
        panel.update(HopResult(5.0 + 2 * i, off, None, 0.9 if off is not None else 0.0, off == -300.0))
    console = Console(record=True, width=100, height=50, file=io.StringIO(), force_terminal=False)
    console.print(panel._render(HopResult(9.0, -300.0, -400.0, 0.9, True)))
    text = console.export_text()
    assert "-300 ms (audio lags)" in text and "ALERT" in text and "▅▂ " in text
    assert "-125 ms (lag) .. +45 ms (lead)" in text


def test_a_drifting_delay_is_followed_and_its_slope_reported():
    """Clock drift: the delay grows by 10 ms every 2 s (300 ms per minute) over 40 s."""
    from realsync_build.monitor.outputs import HopResult, summarize

    steps = [(float(t), 0.010 * t / 2) for t in range(0, 40, 2)]
    ref, inp = dub_scene(40.0, steps, sr=SR, seed=5, voice_level=0.3)
    est = ReferenceDelay(ref, SR)
    hops = []
    for end in np.arange(5.0, 40.01, 1.0):
        delay, conf = est.estimate(inp[int((end - 5) * SR) : int(end * SR)], end)
        hops.append(HopResult(float(end), -delay, None, conf, False))  # offset_ms = -delay, as the monitor reports it
    # each hop sees the delays of its window: the estimate lies within the window's range
    for h in hops:
        lo, hi = 10 * (int(h.t_s - 5) // 2), 10 * ((int(h.t_s) - 1) // 2)
        assert lo - 2 <= -h.offset_ms <= hi + 2, (h.t_s, h.offset_ms)
    s = summarize(hops, [], 1.0, AlertRules(), {})
    assert abs(s["drift_ms_per_min"] + 300.0) < 30.0  # the audio falls 300 ms per minute further behind


def test_bad_requests_are_one_line_errors_with_exit_2(dubbed, tmp_path):
    from typer.testing import CliRunner

    from realsync_build.cli import app

    ref_wav, input_m4a, _, _ = dubbed
    runner = CliRunner()
    cases = [
        (["monitor", str(input_m4a), "--no-progress"], "give exactly one of"),
        (["monitor", str(input_m4a), "--reference-audio", str(ref_wav), "--checkpoint", str(ref_wav), "--no-progress"], "give exactly one of"),
        (["monitor", str(tmp_path / "nope.ts"), "--reference-audio", str(ref_wav), "--no-progress"], "not found"),
        (["monitor", str(input_m4a), "--checkpoint", str(tmp_path / "nope.pt"), "--no-progress"], "not found"),
        (["monitor", str(input_m4a), "--checkpoint", str(ref_wav), "--no-progress"], "unreadable"),
        (["monitor", str(input_m4a), "--reference-audio", str(tmp_path / "nope.wav"), "--no-progress"], "not found"),
        (["monitor", str(input_m4a), "--reference-audio", str(ref_wav), "--lead-ms", "10", "--hysteresis-ms", "20", "--no-progress"], "hysteresis"),
        (["monitor", str(input_m4a), "--checkpoint", str(ref_wav), "--reference-video-offset", "0", "--no-progress"], "applies to mode 2"),
    ]
    for args, msg in cases:
        r = runner.invoke(app, args)
        assert r.exit_code == 2 and msg in r.output and "Traceback" not in r.output, (args, r.output)


def test_jsonl_to_stdout(dubbed):
    ref_wav, input_m4a, _, _ = dubbed
    p = realsync("monitor", input_m4a, "--reference-audio", ref_wav, "--jsonl", "-", "--no-progress", "--window", "8")
    rows = [json.loads(x) for x in p.stdout.splitlines()]
    assert p.returncode == 3 and len(rows) == 27 and rows[0]["t_s"] == 8.0  # the summary and logs stay on stderr


def test_alert_starts_within_persist_plus_2_hops_and_ends_after_the_change_back(tmp_path):
    """The alert path on a decoded stream, independent of any model: in sync, +300 ms from 20 s, in sync from 40 s."""
    ref, inp = dub_scene(60.0, [(0.0, 0.0), (20.0, 0.3), (40.0, 0.0)], sr=SR, seed=9, voice_level=0.3)
    ref_wav = write_audio(tmp_path / "ref.wav", ref, SR)
    m4a = write_audio(tmp_path / "in.m4a", inp, SR, codec="aac")
    persist = 2
    res = run_monitor(MonitorOptions(input=str(m4a), reference_audio=ref_wav, jsonl=tmp_path / "a.jsonl", progress=False,
                                     rules=AlertRules(persist=persist)))
    rows = [json.loads(x) for x in (tmp_path / "a.jsonl").read_text().splitlines()]
    alert_t = [r["t_s"] for r in rows if r["alert"]]
    assert res.exit_code == 3 and len(rows) == 28
    assert 20.0 < alert_t[0] <= 20.0 + (persist + 2) * 2.0
    assert alert_t[-1] > 40.0 and not any(r["alert"] for r in rows if r["t_s"] > 40.0 + 5.0 + (persist + 1) * 2.0)
    assert res.summary["alert_count"] == 1 and 20.0 <= res.summary["alert_spans_s"][0][0]
