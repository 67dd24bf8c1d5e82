"""Throughput of each model backend on CPU (or --device cuda), printed as media seconds per second.

Real weights where they are available (BlazeFace, YAMNet from $REALSYNC_MODELS_DIR or the
shared test folder); official-layout checkpoints with random values otherwise (SyncNet,
S3FD, PANNs: the cost of a forward pass does not depend on the values, except S3FD's
box decoding, which sees more candidates with random weights).

    PYTHONPATH=. python bench/models_throughput.py [--device cpu] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from realsync_build import testdata  # noqa: E402
from realsync_build.models import events, registry  # noqa: E402


def timed(fn, repeat: int = 1) -> float:
    fn()  # warm-up
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t) / repeat


def decode(path: Path, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    import av

    frames, audio = [], []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            frames.append(f.to_ndarray(format="rgb24"))
            if len(frames) >= seconds * 25:
                break
    with av.open(str(path)) as c:
        rs = av.AudioResampler(format="flt", layout="mono", rate=16000)
        for f in c.decode(audio=0):
            audio += [g.to_ndarray().reshape(-1) for g in rs.resample(f)]
    return np.stack(frames), np.concatenate(audio)[: int(seconds * 16000)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true", help="fewer frames (CI smoke run)")
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    root = registry.models_dir()
    if not (root / "blazeface").is_dir() and testdata.testdata_dir():
        root = testdata.testdata_dir() / "models"
        os.environ[registry.ENV] = str(root)
    ted = testdata.testdata_file(testdata.TED)
    if ted is None:
        sys.exit("needs the shared TED clip (REALSYNC_TESTDATA)")
    seconds = 2.0 if args.quick else 6.0
    frames, audio = decode(ted, seconds)
    dur = len(audio) / 16000
    print(f"device={args.device} torch_threads={torch.get_num_threads()} clip={ted.name} ({frames.shape[2]}x{frames.shape[1]}), {dur:.1f} s")
    rows = []

    from realsync_build.models import factory

    sampled = frames[::5]  # the pipeline's default --face-fps 5
    for name in ("blazeface", "blazeface-back"):
        det = factory.get_face_detector(name, args.device)
        t = timed(lambda: det.detect(sampled))
        rows.append((f"faces {name}", f"{len(sampled) / t:.1f} frames/s", f"{dur / t:.1f} video s/s at 5 fps sampling"))

    from face_alignment.detection.sfd.net_s3fd import s3fd

    from realsync_build.models.faces import S3FD

    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-s3fd-{os.getpid()}.pth"
    state = {k: v * 0.01 for k, v in s3fd().state_dict().items()}
    for k in state:  # background wins everywhere: time the network, not the decoding of random boxes
        if "conf" in k and k.endswith("bias"):
            state[k][:] = 20.0  # background channel(s)
            state[k][-1] = -20.0  # face channel
    torch.save(state, tmp)
    try:
        det = S3FD(tmp, args.device)
        few = sampled[:4]
        t = timed(lambda: det.detect(few))
        rows.append(("faces sfd (random weights)", f"{len(few) / t:.1f} frames/s", f"{len(few) / 5 / t:.1f} video s/s at 5 fps sampling"))
    finally:
        tmp.unlink(missing_ok=True)

    from realsync_build.models.syncnet import SyncNetScorer, audio_features, crop_track
    from realsync_build.models.syncnet_net import SyncNetV2

    scorer = SyncNetScorer(SyncNetV2().eval(), device=args.device, batch_size=32)
    n = int(min(len(frames), 2 * 25 if args.quick else 4 * 25))
    boxes = np.tile([285.0, 42.0, 318.0, 74.0], (n, 1))
    crops = crop_track(frames[:n], boxes)
    t = timed(lambda: crop_track(frames[:n], boxes))
    rows.append(("syncnet crops", f"{n / t:.0f} frames/s", f"{n / 25 / t:.1f} video s/s"))
    t = timed(lambda: audio_features(audio[: n * 640]))
    rows.append(("syncnet MFCC", f"{n / 25 / t:.0f} audio s/s", ""))
    t = timed(lambda: scorer.score(crops, audio[: n * 640]))
    rows.append(("syncnet score (batch 32)", f"{(n - 5) / t:.1f} windows/s", f"{n / 25 / t:.2f} track s/s"))

    y = factory.get_event_tagger("yamnet", args.device)
    t = timed(lambda: y.tag(audio, 4.0, 2.0))
    rows.append(("events yamnet (4 s / 2 s)", f"{dur / t:.0f} audio s/s", ""))

    model = events.build_cnn14(events.PANNS_16K, models_root=root).eval()
    labels, mids = events.read_labels(registry.model_path("audioset-labels"))
    p = events.PannsTagger(model, events.PANNS_16K, labels, mids, device=args.device)
    t = timed(lambda: p.tag(audio, 4.0, 2.0))
    rows.append(("events panns 16k (4 s / 2 s, random weights)", f"{dur / t:.1f} audio s/s", ""))

    w = max(len(r[0]) for r in rows)
    for r in rows:
        print(f"{r[0]:<{w}}  {r[1]:>18}  {r[2]}")


if __name__ == "__main__":
    main()
