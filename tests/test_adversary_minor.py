"""Issue 23, minor: what a fake model file and a foreign checkpoint are called."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import shared


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "realsync_build", *args], capture_output=True, text=True)


def test_fake_face_and_panns_weights_are_a_hash_mismatch_not_missing_models(tmp_path):
    from realsync_build.core.root import DatasetRoot

    models = tmp_path / "models"
    (models / "s3fd").mkdir(parents=True)
    (models / "s3fd" / "s3fd-619a316812.pth").write_bytes(b"not the S3FD weights")
    (models / "panns").mkdir()
    (models / "panns" / "Cnn14_16k_mAP=0.438.pth").write_bytes(b"not the PANNs weights")
    (models / "audioset").mkdir()
    (models / "audioset" / "class_labels_indices.csv").write_bytes(shared("models/audioset/class_labels_indices.csv").read_bytes())
    ds = DatasetRoot(tmp_path / "root")
    ds.write("clips", [{"clip_id": "v_0_2", "video_id": "v", "status": "done", "path": "clips/c/v/v_0_2.mp4"}])
    proc = _cli("annotate", "--root", str(ds.root), "--models-dir", str(models), "--no-progress")
    err = " ".join(proc.stderr.split())
    assert proc.returncode == 1 and "Traceback" not in err, err
    assert "hash mismatch" in err and "s3fd" in err and "panns-cnn14-16k" in err
    assert "missing models: s3fd" not in err and "missing models: panns" not in err
    assert "realsync models download" in err


class _Evil:
    def __reduce__(self):
        # os.system, not print: once Ray has started in a process, builtins.print is Ray's, and the pickle
        # would then name that (the order-dependent failure seen under pytest-xdist)
        return (os.system, ("echo pwned",))


def test_the_monitor_does_not_repeat_torch_advice_to_load_with_weights_only_false(tmp_path):
    import torch

    from realsync_build.monitor.model import ModelUnavailable, _load_streamsync

    ck = tmp_path / "evil.pt"
    torch.save({"model": _Evil()}, ck)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")  # was an IndexError traceback
    for path, words in ((ck, f"refused: it pickles code this project does not run (GLOBAL {os.system.__module__}.system)"), (empty, "is unreadable")):
        with pytest.raises(ModelUnavailable) as err:
            _load_streamsync(path)
        msg = str(err.value)
        assert str(path) in msg and words in msg and "\n" not in msg
        assert "weights_only=False" not in msg and "set to `False`" not in msg and "trust the source" not in msg
        assert "safe_globals" not in msg
