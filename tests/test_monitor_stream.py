"""Mode 1 (model) on streams served over loopback: HTTP, HLS, stdin; a stall and a truncation.

A tiny StreamSync (the tiny SparseSync backbone at the low-resolution test config: 32 px frames,
10 fps, 8 kHz) is trained once per module on synthetic flash/click windows with a fixed seed
(the snapshot predictor from scratch on windows with one event at the centre of the video window,
the audio shifted by up to 60 ms; then StreamSync's phase 1 on two-window streams whose offset may
change), and its accuracy is checked first (if it did not learn, the alert test would mean nothing).
The alert test reads the stream with a 5 s hop, so each window holds one flash at its centre, as
in training.  The stream is a
66 s flash/click MPEG-TS whose audio ffmpeg re-muxed with a delay: in sync, then the audio
lagging by 600 ms from 20 s, then in sync again from 44 s.
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
import time

import numpy as np
import pytest
import torch

from realsync_build.media.ffmpeg import run_ffmpeg
from realsync_build.monitor.alerts import AlertRules
from realsync_build.monitor.run import MonitorOptions, run_monitor
from realsync_build.monitor.synth import write_event_stream
from realsync_build.streamsync.checkpoint import save_checkpoint
from realsync_build.streamsync.model import StreamSync, tiny_config
from realsync_build.streamsync.synthetic import event_batch
from realsync_build.streamsync.task import offset_to_class
from tests.streamsync_support import train_two_stage
from tests.monitor_support import realsync

H = 2
HOP_S = 2.0  # the monitor's default hop: the transport tests
MODEL_HOP_S = 5.0  # the alert test's hop: one whole window per hop, so every window holds one flash at its centre
# snapshot_batch "sequence": BatchNorm statistics over all windows of a step, as tests/test_streamsync_learning.py
# (docs/streamsync.md): the tiny predictor trained here from scratch is steadier with them than with the code's
# per-iteration batches of 8 windows (measured: in-sync median 114 ms with "iteration", over the 100 ms bar)
LOW_RES = dict(video_size=32, fps=10, sample_rate=8000, n_fft=128, hop_length=64, stream_dim=48, snapshot_batch="sequence")
PLACEMENT = "video_anchor"  # one event at the centre of each video window: what the monitor sees of this stream at MODEL_HOP_S
PRETRAIN_STEPS, PRETRAIN_BATCH, STREAM_STEPS, STREAM_BATCH, LR, WARMUP = 400, 16, 40, 8, 1e-3, 20
CHANGE_S, BACK_S, DELAY_S, DURATION_S = 20.0, 44.0, 0.6, 66.0
PERSIST = 2


JITTER_S = 0.06


def _batch(n, n_windows, rng, jitter_s=JITTER_S):
    """Training windows; each audio window shifted by up to +/-``jitter_s`` (well inside a 0.2 s class), so the
    model learns where the click is, not the exact samples of the synthetic click (a coded stream's click
    lands ~20 ms later and AAC smears it: without the jitter the tiny model misreads it by seconds)."""
    b = event_batch(n, n_windows, hop_s=MODEL_HOP_S, size=32, fps=10, sample_rate=8000, rng=rng, placement=PLACEMENT)
    if jitter_s:
        k = int(jitter_s * 8000)
        for i in range(n):
            for j in range(n_windows):
                b["audio"][i, j] = torch.roll(b["audio"][i, j], int(rng.integers(-k, k + 1)))
    return b


def _changing_streams(n, rng):
    """H-window streams whose offset may change before the last window (as the monitored stream's does), labelled
    with the last window's offset: the streaming head learns to follow a change instead of holding the old offset."""
    first, last = _batch(n, 1, rng), _batch(n, 1, rng)
    keep = torch.from_numpy(rng.random(n) < 0.5)  # half the streams keep one offset throughout
    video = torch.where(keep[:, None, None, None, None, None], last["video"], first["video"])
    audio = torch.where(keep[:, None, None], last["audio"], first["audio"])
    return {"video": torch.cat([video] * (H - 1) + [last["video"]], 1), "audio": torch.cat([audio] * (H - 1) + [last["audio"]], 1),
            "target": last["target"]}


def _config(**overrides):
    return tiny_config(**overrides)


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory):
    """An untrained tiny StreamSync: enough for what does not depend on accuracy (transports, stalls, JSONL, gating)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "random.pt"
    save_checkpoint(path, StreamSync(_config(history=H, fps=10, sample_rate=8000, video_size=32)).eval(), None, {"step": 0})
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """The tiny model trained here; its held-out accuracy is checked before any alert test relies on it."""
    t0 = time.monotonic()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is cheaper than two, and far cheaper on a loaded machine
    try:
        torch.manual_seed(0)
        model = StreamSync(_config(history=H, **LOW_RES))
        # the snapshot predictor from scratch, then StreamSync's phase 1 on streams whose offset changes
        train_two_stage(model, lambda rng: _batch(PRETRAIN_BATCH, 1, rng), lambda rng: _changing_streams(STREAM_BATCH, rng),
                        history=H, pretrain_steps=PRETRAIN_STEPS, stream_steps=STREAM_STEPS, lr=LR, warmup=WARMUP,
                        rng=np.random.default_rng(0))
        model.eval()
        # held out: what the alert test needs is offset 0 told from the stream's lag, audio delayed by DELAY_S:
        # offset_sec -0.6 (class 7; +0.6 would be audio leading), on streams of such windows
        zero, lag = offset_to_class(0.0), offset_to_class(-DELAY_S)
        one = event_batch(64, 1, hop_s=MODEL_HOP_S, size=32, fps=10, sample_rate=8000, rng=np.random.default_rng(123),
                          placement=PLACEMENT, classes=np.array([zero, lag] * 32))
        test = {"video": one["video"].repeat(1, H, 1, 1, 1, 1), "audio": one["audio"].repeat(1, H, 1), "target": one["target"]}
        with torch.no_grad():
            stream = model(test["video"], test["audio"])["stream"][:, -1].argmax(-1)
    finally:
        torch.set_num_threads(threads)
    acc_pm1 = ((stream - test["target"]).abs() <= 1).float().mean().item()
    print(f"tiny model held-out acc +/-1 on offsets 0 and -{DELAY_S} s: {acc_pm1:.3f}; trained in {time.monotonic() - t0:.1f} s")
    if acc_pm1 < 0.8:
        pytest.xfail(f"the tiny model did not learn the flash/click task in this budget (acc +/-1 {acc_pm1:.2f} < 0.8): "
                     "alert timing cannot be judged with it")
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, model, None, {"train_config": {}, "step": PRETRAIN_STEPS + STREAM_STEPS})
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The stream as a file, as HLS, and an HTTP server on 127.0.0.1 (plus /stall/ and /trunc/ variants)."""
    d = tmp_path_factory.mktemp("stream")
    # one flash/click every MODEL_HOP_S, at the centre of each of the alert test's windows
    events = [MODEL_HOP_S / 2 + MODEL_HOP_S * k for k in range(int(DURATION_S // MODEL_HOP_S))]
    ts = write_event_stream(d / "ev.ts", DURATION_S, events, delays=[(0.0, 0.0), (CHANGE_S, DELAY_S), (BACK_S, 0.0)])
    (d / "hls").mkdir()
    run_ffmpeg(["-i", ts, "-c", "copy", "-f", "hls", "-hls_time", "4", "-hls_list_size", "0",
                "-hls_segment_filename", d / "hls" / "seg%03d.ts", d / "hls" / "ev.m3u8"])
    data = ts.read_bytes()
    cut = int(len(data) * 0.4) // 188 * 188 + 100  # 40 % of the stream, ending mid-packet

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path.startswith(("/stall/", "/trunc/")):
                self.send_response(200)
                self.send_header("Content-Type", "video/mp2t")
                self.send_header("Content-Length", str(len(data)))  # promises the whole stream
                self.end_headers()
                self.wfile.write(data[:cut])
                self.wfile.flush()
                if self.path.startswith("/stall/"):
                    time.sleep(8)  # hold the connection open, sending nothing
                return
            return super().do_GET()

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(d)))
    srv.daemon_threads = True
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield {"dir": d, "ts": ts, "url": f"http://127.0.0.1:{srv.server_address[1]}"}
    srv.shutdown()
    srv.server_close()


def _rows(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def file_rows(random_checkpoint, served, tmp_path_factory):
    """The untrained model's hops on the stream read as a local file: what every transport must reproduce."""
    out = tmp_path_factory.mktemp("file") / "f.jsonl"
    run_monitor(MonitorOptions(input=str(served["ts"]), checkpoint=random_checkpoint, jsonl=out, progress=False, rules=AlertRules(persist=PERSIST)))
    return _rows(out)


def _check_alerts(rows, hop_s):
    assert [r["t_s"] for r in rows] == [5.0 + hop_s * k for k in range(len(rows))]  # one line per hop
    assert len(rows) == int((DURATION_S - 5.0) // hop_s) + 1
    assert all(set(r) == {"t_s", "offset_ms", "class_offset_ms", "confidence", "alert"} for r in rows)
    alert_t = [r["t_s"] for r in rows if r["alert"]]
    print("alert hops", alert_t)
    assert alert_t, "no alert fired"
    assert min(alert_t) > CHANGE_S and min(alert_t) <= CHANGE_S + (PERSIST + 2) * hop_s  # starts within persist+2 hops
    assert max(alert_t) > BACK_S  # lasts until after the change back ...
    assert not any(r["alert"] for r in rows if r["t_s"] > BACK_S + 8 * hop_s)  # ... then ends
    # the lagging part (windows wholly inside it) reads as audio lagging by about 600 ms: offset_ms ~ -600
    lag = [r["offset_ms"] for r in rows if r["t_s"] - 5.0 >= CHANGE_S and r["t_s"] <= BACK_S and r["confidence"] >= 0.3]
    assert abs(np.median(lag) + 1000 * DELAY_S) <= 100, lag
    sync = [r["offset_ms"] for r in rows if r["t_s"] <= CHANGE_S and r["confidence"] >= 0.3]
    assert abs(np.median(sync)) <= 100, sync


@pytest.mark.slow  # trains its tiny StreamSync first: ~5 minutes on one thread
def test_http_stream_through_the_cli_alerts_on_the_delay_and_exits_3(checkpoint, served, tmp_path):
    out = tmp_path / "http.jsonl"
    p = realsync("monitor", f"{served['url']}/ev.ts", "--checkpoint", checkpoint, "--jsonl", out, "--no-progress",
                 "--persist", PERSIST, "--hop", MODEL_HOP_S, "--report", tmp_path / "rep")
    assert p.returncode == 3, p.stderr
    rows = _rows(out)
    _check_alerts(rows, MODEL_HOP_S)
    summary = json.loads((tmp_path / "rep" / "summary.json").read_text())
    assert summary["alert_count"] >= 1 and summary["hops"] == len(rows) and 0 < summary["share_within_limits"] < 1
    assert (tmp_path / "rep" / "timeline.png").stat().st_size > 10_000
    # stdin gives the same hops, byte for byte (same bytes, same decoding)
    out2 = tmp_path / "stdin.jsonl"
    with open(served["ts"], "rb") as fh:
        p = realsync("monitor", "-", "--checkpoint", checkpoint, "--jsonl", out2, "--no-progress", "--persist", PERSIST, "--hop", MODEL_HOP_S, stdin=fh)
    assert p.returncode == 3, p.stderr
    assert out2.read_text() == out.read_text()


def test_hls_over_loopback_gives_the_same_hops_as_the_file(random_checkpoint, served, file_rows, tmp_path):
    opts = MonitorOptions(input=f"{served['url']}/hls/ev.m3u8", checkpoint=random_checkpoint, jsonl=tmp_path / "hls.jsonl",
                          progress=False, rules=AlertRules(persist=PERSIST))
    res = run_monitor(opts)
    rows = _rows(tmp_path / "hls.jsonl")
    assert rows == file_rows
    assert len(rows) == len(res.hops) == int((DURATION_S - 5.0) // HOP_S) + 1
    assert res.exit_code == (3 if any(r["alert"] for r in rows) else 0)


def test_stalled_stream_is_reported_reconnected_and_the_monitor_exits_cleanly(random_checkpoint, served, tmp_path):
    t0 = time.monotonic()
    res = run_monitor(MonitorOptions(input=f"{served['url']}/stall/ev.ts", checkpoint=random_checkpoint, jsonl=tmp_path / "s.jsonl",
                                     progress=False, stall_timeout_s=1.0, reconnects=1))
    assert time.monotonic() - t0 < 30
    events = " | ".join(res.events)
    assert ("stalled" in events or "timed out" in events) and "reconnecting" in events and "streaming state reset" in events, events
    assert not res.summary["ended_cleanly"]
    rows = _rows(tmp_path / "s.jsonl")
    t = [r["t_s"] for r in rows]
    # 40 % of 66 s read twice: hops from both connections, the second on a later timeline
    assert len(rows) >= 16 and t == sorted(t) and t[-1] > 40.0


def test_truncated_stream_is_reported_and_keeps_its_hops(random_checkpoint, served, tmp_path):
    res = run_monitor(MonitorOptions(input=f"{served['url']}/trunc/ev.ts", checkpoint=random_checkpoint, jsonl=tmp_path / "t.jsonl",
                                     progress=False, reconnects=0, stall_timeout_s=3.0))
    assert not res.summary["ended_cleanly"] and any("error" in e for e in res.events), res.events
    rows = _rows(tmp_path / "t.jsonl")
    assert len(rows) == len(res.hops) >= 10 and res.summary["stream_s"] < 0.5 * DURATION_S


def test_silence_and_black_frames_give_zero_confidence(random_checkpoint):
    from realsync_build.monitor.run import _ModelMode

    mode = _ModelMode(MonitorOptions(input="-", checkpoint=random_checkpoint))
    f, s, px = 50, 40000, mode.spec.video_size
    rng = np.random.default_rng(0)
    black = np.zeros((f, px, px, 3), np.uint8)
    moving = rng.integers(0, 255, (f, px, px, 3)).astype(np.uint8)
    noise = (0.1 * rng.standard_normal(s)).astype(np.float32)
    assert mode.hop(black, noise, 5.0)[2] == 0.0
    assert mode.hop(moving, np.zeros(s, np.float32), 7.0)[2] == 0.0
    assert mode.hop(moving, noise, 9.0)[2] > 0.0


def test_udp_mpegts_over_loopback(random_checkpoint, served, file_rows, tmp_path):
    """MPEG-TS datagrams (7 x 188 bytes, as ffmpeg sends them) paced at ~8x real time; the sender then goes quiet."""
    import socket

    data = served["ts"].read_bytes()
    part = data[: int(len(data) * 0.4) // 1316 * 1316]  # ~26 s of stream
    port_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    port_sock.bind(("127.0.0.1", 0))
    port = port_sock.getsockname()[1]
    port_sock.close()

    def send():
        time.sleep(1.5)  # the monitor is listening by then
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        n = len(part) // 1316
        pace = 0.4 * DURATION_S / 8 / n
        for i in range(n):
            s.sendto(part[i * 1316 : (i + 1) * 1316], ("127.0.0.1", port))
            time.sleep(pace)
        s.close()

    th = threading.Thread(target=send, daemon=True)
    th.start()
    res = run_monitor(MonitorOptions(input=f"udp://127.0.0.1:{port}", checkpoint=random_checkpoint, jsonl=tmp_path / "u.jsonl", progress=False,
                                     stall_timeout_s=2.0, reconnects=0, rules=AlertRules(persist=PERSIST)))
    th.join()
    rows = _rows(tmp_path / "u.jsonl")
    # the live input stops without an end: a stall, reported; what arrived was measured like the file
    assert not res.summary["ended_cleanly"] and any("timed out" in e or "stalled" in e for e in res.events), res.events
    assert len(rows) >= 9
    assert [r["t_s"] for r in rows] == [r["t_s"] for r in file_rows[: len(rows)]]
    assert [r["class_offset_ms"] for r in rows] == [r["class_offset_ms"] for r in file_rows[: len(rows)]]




def test_a_stalled_pipe_is_reported_and_the_cli_exits_cleanly(random_checkpoint, served, tmp_path):
    """stdin that delivers 40 % of the stream and then nothing (the writer keeps the pipe open)."""
    import subprocess
    import sys

    from tests.monitor_support import _env

    data = served["ts"].read_bytes()
    out = tmp_path / "p.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "realsync_build", "monitor", "-", "--checkpoint", str(random_checkpoint), "--jsonl", str(out),
                             "--no-progress", "--stall-timeout", "1", "--reconnect", "0"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    try:
        proc.stdin.write(data[: int(len(data) * 0.4) // 188 * 188])
        proc.stdin.flush()
        rc = proc.wait(timeout=900)  # stdin stays open: only the stall can end the run
        err = proc.stderr.read().decode()
    finally:
        proc.stdin.close()
        if proc.poll() is None:
            proc.kill()
    assert rc in (0, 3) and "stalled" in err and "giving up" in err, err
    rows = _rows(out)
    assert len(rows) >= 9 and [r["t_s"] for r in rows] == [5.0 + HOP_S * k for k in range(len(rows))]
