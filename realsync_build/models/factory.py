"""Build a detector, a scorer or a tagger by name, with weights from the registry.

Names the pipeline (and the CLI) use:

- face detectors: ``sfd`` (S3FD), ``blazeface``, ``blazeface-back``;
- event taggers: ``panns`` (Cnn14 16 kHz), ``panns-32k`` (Cnn14 32 kHz), ``yamnet``;
- sync scorer: SyncNet v2 (:func:`get_sync_scorer`).

Missing weights raise :class:`~realsync_build.models.base.ModelMissing` (its message names
``realsync models download NAME``); a file with the wrong hash raises its subclass
:class:`~realsync_build.models.registry.ModelHashMismatch`; a verified file that does not load
(wrong layout, unreadable) raises :class:`~realsync_build.models.registry.ModelUnusable`, also
a ``ModelMissing``, so callers handle the three alike.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import torch

from realsync_build.models import registry
from realsync_build.models.base import EventTagger, FaceDetector, SyncScorer

FACE_DETECTORS = ("sfd", "blazeface", "blazeface-back")
EVENT_TAGGERS = ("panns", "panns-32k", "yamnet")

# which registry entries each name needs (for messages and `models download`)
REQUIRES = {
    "sfd": ("s3fd",),
    "blazeface": ("blazeface",),
    "blazeface-back": ("blazeface-back",),
    "panns": ("panns-cnn14-16k", "audioset-labels"),
    "panns-32k": ("panns-cnn14", "audioset-labels"),
    "yamnet": ("yamnet",),
    "syncnet": ("syncnet",),
}


def needed_for_annotate(face_detector: str = "sfd", events: str = "panns", only: str | None = None, sync: bool = True) -> list[str]:
    """Registry entries ``realsync annotate`` with these options loads (with what they need), in order."""
    names: list[str] = []
    if only in (None, "faces"):
        names += REQUIRES[face_detector]
    if only in (None, "events"):
        names += REQUIRES[events]
    if sync and only != "events":
        names += REQUIRES["syncnet"]
    return registry.with_needs(names)


def missing_models(names: list[str], root: Path | None = None) -> list[str]:
    """Those of ``names`` whose files are absent or fail their hash check."""
    bad: list[str] = []
    for check in registry.check_all(names, root):
        if not check.ok and check.entry.name not in bad:
            bad.append(check.entry.name)
    return bad


@contextlib.contextmanager
def _loading(name: str) -> Iterator[None]:
    """A file that cannot be loaded becomes ModelUnusable (a ModelMissing: one line, names the fix)."""
    from realsync_build.models.weights import WeightsLayoutError

    try:
        yield
    except WeightsLayoutError as exc:
        raise registry.ModelUnusable(name, str(exc)) from exc


def resolve_device(device: str | None = None) -> str:
    """``auto``/None -> ``cuda`` when available, else ``cpu``; an unavailable ``cuda`` is an error."""
    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available; use --device cpu")
    if not (device == "cpu" or device.startswith("cuda") or device == "mps"):
        raise ValueError(f"unknown device {device!r}: use auto, cpu or cuda[:N]")
    return device


def get_face_detector(name: str, device: str | None = "cpu", root: Path | None = None, min_score: float = 0.5, engine: str = "torch") -> FaceDetector:
    """A detector by name; ``engine`` (``models.engine``: auto, torch, onnx) applies to BlazeFace (S3FD runs on PyTorch)."""
    device = resolve_device(device)
    if name in ("blazeface", "blazeface-back"):
        from realsync_build.models.faces import BlazeFace

        weights, anchors = registry.model_files(name, root)
        with _loading(name):
            return BlazeFace(weights, anchors, back=name == "blazeface-back", device=device, min_score=min_score, engine=engine)
    if name == "sfd":
        from realsync_build.models.faces import S3FD

        path = registry.model_path("s3fd", root)
        with _loading("s3fd"):
            return S3FD(path, device=device, threshold=min_score, trusted=True)
    raise ValueError(f"unknown face detector {name!r}; choose from {', '.join(FACE_DETECTORS)}")


def get_sync_scorer(device: str | None = "cpu", batch: int = 32, root: Path | None = None, vshift: int = 15, video_stride: int = 1, engine: str = "torch") -> SyncScorer:
    """SyncNet v2 with the official weights; raises ModelMissing when ``syncnet_v2.model`` is absent.
    ``engine``: the lip tower's engine (``models.engine``: auto, torch, onnx)."""
    device = resolve_device(device)
    path = registry.model_path("syncnet", root)
    from realsync_build.models.syncnet import SyncNetScorer

    with _loading("syncnet"):
        return SyncNetScorer(path, device=device, batch_size=batch, vshift=vshift, trusted=True, video_stride=video_stride, engine=engine)


def get_event_tagger(name: str, device: str | None = "cpu", root: Path | None = None, batch: int = 8) -> EventTagger:
    device = resolve_device(device)
    if name in ("panns", "panns-32k"):
        from realsync_build.models import events

        cfg = events.PANNS_16K if name == "panns" else events.PANNS_32K
        labels_csv = registry.model_path("audioset-labels", root)
        path = registry.model_path(cfg.registry_name, root)
        with _loading("audioset-labels"):
            labels, mids = events.read_labels(labels_csv)
        with _loading(cfg.registry_name):
            model = events.load_cnn14(path, cfg, models_root=root, trusted=True)
        return events.PannsTagger(model, cfg, labels, mids, device=device, batch_size=batch)
    if name == "yamnet":
        from realsync_build.models.events import YamnetTagger

        tflite, class_map = registry.model_files("yamnet", root)
        with _loading("yamnet"):
            return YamnetTagger(tflite, class_map)
    raise ValueError(f"unknown event tagger {name!r}; choose from {', '.join(EVENT_TAGGERS)}")
