"""The clip format and the offset grid: one fact, one place.

Every clip realsync makes (``preprocess``), reads (``annotate``, the probe) and
feeds to the model (``streamsync``) is H.264 at 25 fps with the shorter side
256 px, and AAC-LC mono at 16 kHz.  Evaluation offsets (``split`` segments,
StreamSync targets) are the 21 classes of the 0.2 s grid over [-2, +2] s.

Off-grid input has ONE behaviour everywhere: :func:`offset_to_class` raises
``ValueError`` for an offset that is not on the grid (within 1e-6 s) or lies
outside +/-2 s.  Offsets in realsync are always drawn from the grid (a class
first, then its offset), so an off-grid value is a bug or a tampered list,
never something to round silently.  Two exceptions, continuous by design:

* StreamSync's training offsets (U(-2, 2) s, as in the paper's code): their label is
  :func:`nearest_class`, the grid's nearest class;
* the offsets of the published *uniform* lists (``sports_and_news_uniform.*.json``, full
  float precision): their label is :func:`list_offset_class`, the class the StreamSync
  code gives them (``round(offset, 2)``, then the nearest point of its float32 grid; its
  ties differ from :func:`nearest_class`).
"""

from __future__ import annotations

import numpy as np

FPS = 25
SAMPLE_RATE = 16000  # Hz
SHORT_SIDE = 256  # px, the shorter side of every clip
AUDIO_CHANNELS = 1
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640

MAX_OFFSET_S = 2.0
CLASS_STEP_S = 0.2
NUM_CLASSES = int(round(2 * MAX_OFFSET_S / CLASS_STEP_S)) + 1  # 21: -2.0, -1.8, ..., +2.0
OFFSETS_S = np.round(np.linspace(-MAX_OFFSET_S, MAX_OFFSET_S, NUM_CLASSES), 1)
GRID_TOLERANCE_S = 1e-6


def class_to_offset(cls: int) -> float:
    """Class index 0..20 -> offset in seconds (-2.0 .. 2.0), never ``-0.0``."""
    k = int(cls)
    if not 0 <= k < NUM_CLASSES:
        raise ValueError(f"offset class {cls} is outside 0..{NUM_CLASSES - 1}")
    return round((k - NUM_CLASSES // 2) * CLASS_STEP_S, 1) + 0.0


def nearest_class(offset_s: float) -> int:
    """A continuous offset in seconds (within +/-2 s) -> the class of the nearest grid point.

    Only for offsets that are continuous by design (StreamSync's training offsets ~ U(-2, 2) s,
    as in the paper's code); grid offsets go through :func:`offset_to_class`, which refuses
    off-grid values.  Raises ``ValueError`` for a non-number or beyond +/-2 s.
    """
    value = float(offset_s)
    if not np.isfinite(value):
        raise ValueError(f"offset {offset_s!r} s is not a number")
    if abs(value) > MAX_OFFSET_S + GRID_TOLERANCE_S:
        raise ValueError(f"offset {offset_s} s is beyond +/-{MAX_OFFSET_S:g} s")
    return min(max(int(round(value / CLASS_STEP_S)) + NUM_CLASSES // 2, 0), NUM_CLASSES - 1)


def offset_to_class(offset_s: float) -> int:
    """Offset in seconds -> class index; raises ``ValueError`` off the 0.2 s grid or beyond +/-2 s."""
    value = float(offset_s)
    if not np.isfinite(value):
        raise ValueError(f"offset {offset_s!r} s is not a number")
    k = nearest_class(value) if abs(value) <= MAX_OFFSET_S + GRID_TOLERANCE_S else None
    if k is None or abs(class_to_offset(k) - value) > GRID_TOLERANCE_S:
        raise ValueError(f"offset {offset_s} s is not on the {CLASS_STEP_S:g} s grid within +/-{MAX_OFFSET_S:g} s")
    return k



# The StreamSync code's class grid: np.linspace(-2, 2, 21) cast to float32 (torch ``.float()``).
_LIST_GRID = np.linspace(-MAX_OFFSET_S, MAX_OFFSET_S, NUM_CLASSES).astype(np.float32)


def list_offset_class(offset_s: float) -> int:
    """A published list's offset in seconds -> the class the StreamSync code labels it with.

    Its evaluation transform rounds the listed offset to 0.01 s (``round(offset, 2)``, which
    is also the shift it applies), then takes the first nearest point of its float32 grid, the
    difference computed in float32.  For grid offsets (the normal lists) this is
    :func:`offset_to_class`; for the uniform lists' continuous offsets a tie (e.g. 0.3 s, half
    way between 0.2 and 0.4) goes where float32 puts it (0.3 -> 0.4 s), not where
    :func:`nearest_class` rounds it.  ``tests/test_list_distribution.py`` checks it against
    torch on every 0.01 s step.  Raises ``ValueError`` for a non-number or beyond +/-2 s.
    """
    value = float(offset_s)
    if not np.isfinite(value):
        raise ValueError(f"offset {offset_s!r} s is not a number")
    if abs(value) > MAX_OFFSET_S + GRID_TOLERANCE_S:
        raise ValueError(f"offset {offset_s} s is beyond +/-{MAX_OFFSET_S:g} s")
    return int(np.argmin(np.abs(_LIST_GRID - np.float32(round(value, 2)))))
