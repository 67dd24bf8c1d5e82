"""The model registry: folder layout, hash checks, downloads from a loopback server, the CLI."""

from __future__ import annotations

import hashlib
import http.server
import json
import shutil
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import shared
from realsync_build.models import registry
from realsync_build.models.base import ModelMissing
from realsync_build.models.registry import ModelEntry, ModelFile


@pytest.fixture
def server(tmp_path):
    """A loopback HTTP server over a folder; yields (base_url, folder, request log)."""
    folder = tmp_path / "www"
    folder.mkdir()
    log: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(folder), **k)

        def log_message(self, *a):
            log.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", folder, log
    httpd.shutdown()
    httpd.server_close()


def _entry(url: str, kind: str, digest: str | None, name: str = "toy") -> ModelEntry:
    return ModelEntry(name, "labels", "MIT", "a toy model", (ModelFile("toy", "toy.bin", url, kind, digest),))


def test_registry_entries_are_complete():
    assert {"syncnet", "s3fd", "panns-cnn14-16k", "panns-cnn14", "blazeface", "blazeface-back", "yamnet", "audioset-labels"} <= set(registry.REGISTRY)
    for e in registry.REGISTRY.values():
        assert e.licence and e.files
        for mf in e.files:
            assert mf.url.startswith(("http://", "https://"))
            assert mf.hash_kind in registry.HASH_KINDS
            assert (mf.digest is None) == (mf.hash_kind == registry.RECORDED)
    s3fd = registry.get_entry("s3fd").main
    assert s3fd.hash_kind == registry.SHA256_PREFIX and s3fd.digest in s3fd.file  # torch.hub-style name
    assert registry.get_entry("panns-cnn14-16k").main.hash_kind == registry.MD5
    assert registry.get_entry("syncnet").main.url.endswith("/syncnet_v2.model")


def test_models_dir_env_and_default(monkeypatch, tmp_path):
    monkeypatch.setenv(registry.ENV, str(tmp_path))
    assert registry.models_dir() == tmp_path
    monkeypatch.delenv(registry.ENV)
    import platformdirs

    assert registry.models_dir() == Path(platformdirs.user_cache_dir("realsync", appauthor=False)) / "models"


def test_missing_model_names_the_download_command(tmp_path):
    with pytest.raises(ModelMissing) as err:
        registry.model_path("syncnet", tmp_path)
    msg = str(err.value)
    assert "realsync models download syncnet" in msg and "\n" not in msg


def test_shared_folder_layout_is_accepted(monkeypatch):
    root = shared("models/blazeface/blazeface.pth").parent.parent
    monkeypatch.setenv(registry.ENV, str(root))
    weights, anchors = registry.model_files("blazeface")
    assert weights == root / "blazeface" / "blazeface.pth" and anchors == root / "blazeface" / "anchors.npy"
    assert registry.model_files("blazeface-back")[0].name == "blazefaceback.pth"
    assert registry.model_files("yamnet")[1].name == "yamnet_class_map.csv"
    assert registry.model_path("audioset-labels").parent.name == "audioset"


def test_file_with_wrong_hash_is_refused(tmp_path):
    src = shared("models/blazeface/blazeface.pth")
    (tmp_path / "blazeface").mkdir()
    shutil.copy(shared("models/blazeface/anchors.npy"), tmp_path / "blazeface" / "anchors.npy")
    data = bytearray(src.read_bytes())
    data[1000] ^= 0xFF
    (tmp_path / "blazeface" / "blazeface.pth").write_bytes(bytes(data))
    with pytest.raises(registry.ModelHashMismatch) as err:
        registry.model_files("blazeface", tmp_path)
    assert "refused" in str(err.value) and "realsync models download blazeface" in str(err.value)


def test_download_checks_hash_and_writes_atomically(server, tmp_path):
    base, www, log = server
    payload = b"weights" * 1000
    (www / "toy.bin").write_bytes(payload)
    root = tmp_path / "models"
    good = _entry(f"{base}/toy.bin", registry.SHA256, hashlib.sha256(payload).hexdigest())
    path = registry.fetch_file(good, good.main, root)
    assert path == root / "toy" / "toy.bin" and path.read_bytes() == payload
    n_requests = len(log)
    registry.fetch_file(good, good.main, root)  # present and verified: no second request
    assert len(log) == n_requests

    bad = _entry(f"{base}/toy.bin", registry.MD5, "0" * 32, name="bad")
    root2 = tmp_path / "models2"
    with pytest.raises(registry.DownloadError, match="wrong hash"):
        registry.fetch_file(bad, bad.main, root2)
    assert not any(p.is_file() for p in root2.rglob("*"))  # no file, no temp left behind

    missing = _entry(f"{base}/nope.bin", registry.SHA256, "0" * 64, name="gone")
    with pytest.raises(registry.DownloadError, match="could not fetch"):
        registry.fetch_file(missing, missing.main, root2)


def test_sha256_prefix_and_recorded_hashes(server, tmp_path, monkeypatch):
    base, www, _ = server
    payload = b"\x00\x01model" * 500
    (www / "toy.bin").write_bytes(payload)
    sha = hashlib.sha256(payload).hexdigest()
    root = tmp_path / "models"

    pref = _entry(f"{base}/toy.bin", registry.SHA256_PREFIX, sha[:10])
    registry.fetch_file(pref, pref.main, root)

    rec = _entry(f"{base}/toy.bin", registry.RECORDED, None, name="rec")
    monkeypatch.setitem(registry.REGISTRY, "rec", rec)
    root2 = tmp_path / "models2"
    registry.download("rec", root2)
    assert json.loads((root2 / registry.HASHES_FILE).read_text()) == {"toy/toy.bin": sha}
    assert registry.model_path("rec", root2) == root2 / "toy" / "toy.bin"
    (root2 / "toy" / "toy.bin").write_bytes(payload + b"tampered")
    with pytest.raises(registry.ModelHashMismatch, match="recorded"):
        registry.model_path("rec", root2)
    # a later download that serves different bytes is refused unless forced
    (www / "toy.bin").write_bytes(b"another release")
    (root2 / "toy" / "toy.bin").unlink()
    with pytest.raises(registry.DownloadError, match="recorded"):
        registry.download("rec", root2)
    registry.download("rec", root2, force=True)
    assert registry.read_recorded(root2)["toy/toy.bin"] == hashlib.sha256(b"another release").hexdigest()


def test_seed_panns_labels_copies_registry_file(tmp_path):
    root = shared("models/audioset/class_labels_indices.csv").parent.parent
    target = registry.seed_panns_labels(root, home=tmp_path)
    assert target == tmp_path / "panns_data" / "class_labels_indices.csv"
    assert target.read_bytes() == (root / "audioset" / "class_labels_indices.csv").read_bytes()


# ---------------------------------------------------------------- CLI


def _cli(args, env=None):
    from realsync_build.cli import app

    return CliRunner().invoke(app, args, env=env)


def test_cli_models_list_shows_presence(monkeypatch):
    root = shared("models/blazeface/blazeface.pth").parent.parent
    monkeypatch.setenv(registry.ENV, str(root))
    res = _cli(["models", "list"])
    assert res.exit_code == 0, res.output
    out = res.stdout
    for word in ("syncnet", "s3fd", "panns-cnn14-16k", "blazeface-back", "yamnet", "sha256-prefix", "md5", "recorded", "Apache-2.0"):
        assert word in out
    syncnet_row = next(line for line in out.splitlines() if "syncnet_v2.model" in line)
    blaze_row = next(line for line in out.splitlines() if "blazeface.pth" in line)
    assert "no" in syncnet_row.split("│")[-2] and "yes" in blaze_row.split("│")[-2]


def test_cli_download_and_verify(server, tmp_path, monkeypatch):
    base, www, _ = server
    (www / "toy.bin").write_bytes(b"abc" * 100)
    monkeypatch.setitem(registry.REGISTRY, "toy", _entry(f"{base}/toy.bin", registry.SHA256, hashlib.sha256(b"abc" * 100).hexdigest()))
    monkeypatch.setenv(registry.ENV, str(tmp_path / "m"))
    res = _cli(["models", "download", "toy"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "m" / "toy" / "toy.bin").is_file()
    assert _cli(["models", "verify", "toy"]).exit_code == 0
    (tmp_path / "m" / "toy" / "toy.bin").write_bytes(b"corrupt")
    res = _cli(["models", "verify", "toy"])
    assert res.exit_code == 1 and "BAD" in res.output
    res = _cli(["models", "download", "nosuchmodel"])
    assert res.exit_code == 2 and "unknown model" in res.output and "Traceback" not in res.output


def test_cli_verify_record_pins_hand_placed_files(tmp_path, monkeypatch):
    (tmp_path / "audioset").mkdir()
    src = shared("models/audioset/class_labels_indices.csv")
    (tmp_path / "audioset" / src.name).write_bytes(src.read_bytes())
    monkeypatch.setenv(registry.ENV, str(tmp_path))
    res = _cli(["models", "verify", "audioset-labels", "--record"])
    assert res.exit_code == 0 and "recorded" in res.output
    assert registry.read_recorded(tmp_path) == {"audioset/class_labels_indices.csv": hashlib.sha256(src.read_bytes()).hexdigest()}
    (tmp_path / "audioset" / src.name).write_text("index,mid,display_name\n0,/m/x,Other\n")
    assert _cli(["models", "verify", "audioset-labels"]).exit_code == 1


def test_download_names_bring_what_they_need():
    assert registry.with_needs(["panns-cnn14"]) == ["panns-cnn14", "audioset-labels"]
    assert registry.with_needs(["yamnet", "panns-cnn14-16k", "panns-cnn14"]) == ["yamnet", "panns-cnn14-16k", "audioset-labels", "panns-cnn14"]
    from realsync_build.cli.models import _names

    assert _names("panns") == ["panns-cnn14-16k", "audioset-labels"] and _names("sfd") == ["s3fd"]

