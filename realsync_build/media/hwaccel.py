"""``preprocess --hwaccel cuda``: which parts of the ffmpeg run go to the GPU, decided by probing.

Three parts, each probed once per process (on the node that runs ffmpeg) with a
tiny generated input, and each falling back alone:

- **decode** on NVDEC (``-hwaccel cuda``), needs a CUDA device ffmpeg can open;
- **scale** on the GPU (``scale_cuda``), needs the filter and GPU-decoded frames;
- **encode** with NVENC (``h264_nvenc``, High profile, constant quality). Data-centre
  GPUs (H100/H200, A100) have NVDEC but no NVENC: there decode and scale run on the
  GPU and libx264 encodes.

A part that falls back gets one line saying which and why (:attr:`HwPlan.notes`).
With every part on the CPU the ffmpeg arguments are exactly those of the CPU path,
so the clips are byte for byte the same.
"""

from __future__ import annotations

import functools
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from realsync_build.media.ffmpeg import ffmpeg_exe

HWACCELS = ("none", "cuda")
PROBE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class HwPlan:
    decode: str = "cpu"  # cpu | cuda
    scale: str = "cpu"  # cpu | cuda (scale_cuda; only after a GPU decode)
    encode: str = "libx264"  # libx264 | h264_nvenc
    notes: tuple[str, ...] = field(default_factory=tuple)  # one line per part that fell back

    @property
    def all_cpu(self) -> bool:
        return self.decode == "cpu" and self.scale == "cpu" and self.encode == "libx264"


def _ffmpeg(args: list[str]) -> tuple[bool, str]:
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *args]
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=PROBE_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, type(exc).__name__
    err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    return proc.returncode == 0, (err[-1].strip() if err else f"exit code {proc.returncode}")


@functools.lru_cache(maxsize=1)
def ffmpeg_caps() -> dict[str, bool]:
    """What this ffmpeg build has: the cuda hwaccel, scale_cuda, h264_nvenc."""
    def listing(flag: str) -> str:
        try:
            return subprocess.run([ffmpeg_exe(), "-hide_banner", flag], capture_output=True, timeout=PROBE_TIMEOUT_S).stdout.decode("utf-8", "replace")
        except (OSError, subprocess.TimeoutExpired):
            return ""

    hw = listing("-hwaccels").split()
    return {
        "cuda": "cuda" in hw,
        "scale_cuda": " scale_cuda " in listing("-filters"),
        "h264_nvenc": " h264_nvenc " in listing("-encoders"),
    }


def _probe_device() -> tuple[bool, str]:
    ok, why = _ffmpeg(["-init_hw_device", "cuda=cu:0", "-f", "lavfi", "-i", "nullsrc=s=64x64", "-frames:v", "1", "-f", "null", "-"])
    return ok, ("" if ok else f"no CUDA device ffmpeg can open ({why})")


def _probe_decode(sample: Path, scale: bool) -> tuple[bool, str]:
    args = ["-hwaccel", "cuda"]
    if scale:
        args += ["-hwaccel_output_format", "cuda"]
    args += ["-i", str(sample)]
    if scale:
        args += ["-vf", "scale_cuda=w=-2:h=64:format=yuv420p"]
    ok, why = _ffmpeg([*args, "-f", "null", "-"])
    return ok, why


def _probe_nvenc() -> tuple[bool, str]:
    return _ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=256x256:r=25", "-frames:v", "5", "-c:v", "h264_nvenc", "-f", "null", "-"])


@functools.lru_cache(maxsize=4)
def hw_plan(hwaccel: str = "none") -> HwPlan:
    """The parts that run on the GPU here, for ``--hwaccel`` ``none`` or ``cuda``."""
    if hwaccel in (None, "", "none"):
        return HwPlan()
    if hwaccel != "cuda":
        raise ValueError(f"unknown --hwaccel {hwaccel!r}; choose from {', '.join(HWACCELS)}")
    caps = ffmpeg_caps()
    notes: list[str] = []
    device_ok, device_why = _probe_device() if caps["cuda"] else (False, "this ffmpeg build has no cuda hwaccel")
    decode = scale = "cpu"
    if device_ok:
        with tempfile.TemporaryDirectory(prefix="realsync-hwprobe-") as tmp:
            sample = Path(tmp) / "probe.mp4"
            made, why = _ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=128x72:r=25", "-frames:v", "5", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(sample)])
            dec_ok, dec_why = _probe_decode(sample, scale=False) if made else (False, why)
            if dec_ok:
                decode = "cuda"
                if not caps["scale_cuda"]:
                    notes.append("--hwaccel cuda: scale falls back to the CPU (this ffmpeg build has no scale_cuda)")
                else:
                    sc_ok, sc_why = _probe_decode(sample, scale=True)
                    if sc_ok:
                        scale = "cuda"
                    else:
                        notes.append(f"--hwaccel cuda: scale falls back to the CPU (scale_cuda failed: {sc_why})")
            else:
                notes.append(f"--hwaccel cuda: decode and scale fall back to the CPU (NVDEC decode failed: {dec_why})")
    else:
        notes.append(f"--hwaccel cuda: decode and scale fall back to the CPU ({device_why})")
    encode = "libx264"
    if not caps["h264_nvenc"]:
        notes.append("--hwaccel cuda: encode falls back to libx264 (this ffmpeg build has no h264_nvenc)")
    elif not device_ok:
        notes.append(f"--hwaccel cuda: encode falls back to libx264 ({device_why})")
    else:
        enc_ok, enc_why = _probe_nvenc()
        if enc_ok:
            encode = "h264_nvenc"
        else:
            notes.append(f"--hwaccel cuda: encode falls back to libx264 (h264_nvenc failed, e.g. a GPU without NVENC: {enc_why})")
    return HwPlan(decode=decode, scale=scale, encode=encode, notes=tuple(notes))
