"""Is there anything to sync in a window?  Silence and black or frozen pictures give no evidence.

A window is *inactive* when its audio is below ``SILENCE_DBFS`` or its picture barely changes
(mean absolute frame-to-frame difference below ``STILL_LEVEL`` grey levels: black frames,
a frozen picture, a slate).  The monitor reports such hops with confidence 0, so they
never start or end an alert.
"""

from __future__ import annotations

import numpy as np

from realsync_build.monitor.refdelay import SILENCE_DBFS, dbfs

STILL_LEVEL = 0.5


def audio_active(audio: np.ndarray) -> bool:
    return dbfs(audio) >= SILENCE_DBFS


def video_active(video: np.ndarray) -> bool:
    v = video.astype(np.int16)
    if len(v) < 2:
        return True
    return float(np.abs(np.diff(v, axis=0)).mean()) >= STILL_LEVEL
