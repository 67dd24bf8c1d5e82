"""Time estimates for ``--dry-run``, from the figures measured in ``docs/benchmarks.md`` (one place).

These are estimates, and every plan says so: the figures were measured on a shared, loaded
2-core VM without GPU (2026-11-22), on the media described there.  A figure nobody measured
gives no estimate (``None``: the plan prints n/a and why), never a guess.
``tests/test_scripting.py`` checks each figure against the text of docs/benchmarks.md.
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE = "docs/benchmarks.md, measured 2026-11-22 on a loaded 2-core VM without GPU"

# preprocess: CPU seconds per hour of source video, 720p30 H.264 sources ("Scaling / executors": 853 local, 861 inline)
PREPROCESS_CPU_S_PER_MEDIA_H = (853.0, 861.0)
PREPROCESS_HIGHER_RES_FACTOR = 2.0  # sources above 720p: "roughly twice" (docs/scaling.md; an assumption, not measured)
# annotate: video seconds annotated per CPU second, BlazeFace-back + YAMNet on CPU (the generated 300 s clip, stride 2)
ANNOTATE_MEDIA_S_PER_CPU_S = 0.80
ANNOTATE_MEASURED = ("blazeface-back", "yamnet", "cpu")  # the only combination measured
# export webdataset: bytes copied into shards ("Split, segments, export, stats": 65-183 MB/s)
EXPORT_MB_PER_S = (65.0, 183.0)


@dataclass
class Estimate:
    low_s: float
    high_s: float
    basis: str  # what it is computed from

    def text(self) -> str:
        lo, hi = _dur(self.low_s), _dur(self.high_s)
        span = lo if lo == hi else f"{lo} to {hi}"
        return f"~{span} (an estimate, not a measurement of this run: {self.basis}; {SOURCE})"

    def to_dict(self) -> dict:
        return {"low_s": round(self.low_s, 1), "high_s": round(self.high_s, 1), "basis": self.basis, "source": SOURCE}


def _dur(seconds: float) -> str:
    s = max(0, int(round(seconds)))
    if s < 90:
        return f"{s} s"
    if s < 5400:
        return f"{round(s / 60)} min"
    return f"{s / 3600:.1f} h"


def preprocess(media_s_720: float, media_s_higher: float, cores: int) -> Estimate | None:
    """Wall time for preprocess over that much source media (above 720p counted twice), on ``cores`` cores."""
    if media_s_720 + media_s_higher <= 0:
        return None
    hours = (media_s_720 + PREPROCESS_HIGHER_RES_FACTOR * media_s_higher) / 3600.0
    lo, hi = (h * hours / max(1, cores) for h in PREPROCESS_CPU_S_PER_MEDIA_H)
    basis = f"{PREPROCESS_CPU_S_PER_MEDIA_H[0]:.0f}-{PREPROCESS_CPU_S_PER_MEDIA_H[1]:.0f} CPU s per video-hour at 720p over {cores} cores"
    if media_s_higher:
        basis += f", sources above 720p counted {PREPROCESS_HIGHER_RES_FACTOR:g}x (not measured)"
    return Estimate(lo, hi, basis)


def annotate(media_s: float, cores: int, face_detector: str, events: str, device: str) -> tuple[Estimate | None, str]:
    """``(estimate, why not)``: only the measured combination (BlazeFace-back + YAMNet on CPU) gets one."""
    if media_s <= 0:
        return None, "no media to annotate"
    on_cpu = device == "cpu" or (device == "auto" and not _has_cuda())
    if (face_detector, events, "cpu" if on_cpu else "gpu") != ANNOTATE_MEASURED:
        return None, (
            f"n/a: only --face-detector blazeface-back --events yamnet on CPU was measured "
            f"({ANNOTATE_MEDIA_S_PER_CPU_S:.2f} video s per CPU s); {face_detector} + {events} on {'CPU' if on_cpu else 'GPU'} was not"
        )
    wall = media_s / ANNOTATE_MEDIA_S_PER_CPU_S / max(1, cores)
    return Estimate(wall, wall, f"{ANNOTATE_MEDIA_S_PER_CPU_S:.2f} video s per CPU s (BlazeFace-back + YAMNet, CPU) over {cores} cores"), ""


def export(n_bytes: float) -> Estimate | None:
    if n_bytes <= 0:
        return None
    lo, hi = (n_bytes / (mb * 1e6) for mb in reversed(EXPORT_MB_PER_S))
    return Estimate(lo, hi, f"{EXPORT_MB_PER_S[0]:.0f}-{EXPORT_MB_PER_S[1]:.0f} MB/s copied into shards (disk-bound)")


def _has_cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # noqa: BLE001 - no torch, no CUDA
        return False
