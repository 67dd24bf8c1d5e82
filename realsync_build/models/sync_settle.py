"""Settling a SyncNet run early: a sequential rule with a stated error bound.

A speech-and-face run is labelled by one SyncNet evaluation (the reference's definitions,
:func:`realsync_build.models.syncnet.sync_offset`): it is **accepted** (talking head) when
``confidence >= C`` and ``|offset| <= M`` (``--min-confidence``, ``--max-offset``), else
rejected (voice-over).  Both numbers come from ``mdist``, the mean over the run's 5-frame
windows of each window's distance row ``d[i, :]`` (31 candidate offsets).  A run of minutes
does not need all its windows when the answer is clear after a few seconds.

The rule, checked when a batch of lip features is computed (a "look": from ``--min-sync-run``
on, then each time the run's scored windows have grown by a quarter):

* the run so far is evaluated as a run of its own (exactly what the whole-run evaluation
  would give if the run ended now);
* its two decision margins, ``T1 = confidence - C`` and ``T2 = min over the offsets outside
  the window - min over the offsets inside it`` (``T2 > 0``: the argmin is inside), get a
  standard error by the **jackknife over blocks** of ``BLOCK_WINDOWS`` consecutive windows
  (neighbouring windows share frames, so single windows are not independent);
* the run **settles** as accepted when both margins are above ``t * SE`` and as rejected when
  either is below ``-t * SE``, with ``t`` the Student-t quantile (``blocks - 1`` degrees of
  freedom) for the error ``alpha_j / 2`` of look ``j``, ``alpha_j = alpha * 6 / (pi^2 j^2)``
  (the ``alpha_j`` sum to ``alpha``, so looking again and again does not spend more).
  A margin that cannot be negative (``C <= 0``: the median is never below the minimum;
  ``M >= vshift``: every offset is inside) is certain and needs no test.

**Error bound.** The settled label differs from the whole run's label with probability at most
``alpha`` (``--sync-settle``, default 0.01) per run, under the model that the run's block means
are independent draws around the whole run's value (normal, with the jackknife's standard
error).  Why the whole run and not a population value: for a mean, the whole run's value is
``(n * prefix + m * rest) / (n + m)``; for it to cross the threshold after the prefix was
``t * SE_n`` past it, the rest must deviate by ``t * SE_n * (n + m) / m``, whose probability is
at most that of a ``t``-sigma deviation whatever ``m`` is.  The model is an approximation
(the offsets near a run's ends see zero-padded audio, real speech is not stationary), so the
bound is checked against whole-run scoring on the shared clips and the 300 s broadcast mix
(``bench/annotate.py``; ``docs/benchmarks.md``).  ``alpha = 0`` scores every run whole (the
reference).  A settled run's ``offset_frames``, ``min_dist`` and ``confidence`` are those of
the windows scored up to the settling look.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BLOCK_WINDOWS = 10  # 0.4 s: windows further apart than a 5-frame window and the 0.2 s MFCC span


@dataclass(frozen=True)
class SettleRule:
    min_confidence: float  # C
    max_offset: int  # M
    alpha: float = 0.01  # error bound per run; 0: never settle (whole-run scoring)
    vshift: int = 15

    @property
    def enabled(self) -> bool:
        return self.alpha > 0

    @property
    def certain(self) -> bool:
        """Both margins are certain: every scored run is accepted (e.g. C <= 0 and M >= vshift)."""
        return self.min_confidence <= 0 and self.max_offset >= self.vshift


def look_alpha(alpha: float, look: int) -> float:
    """The error spent at look ``look`` (1-based): ``alpha * 6 / (pi^2 look^2)``, summing to ``alpha``."""
    return alpha * 6.0 / (math.pi**2 * look**2)


def margins(mdist: np.ndarray, rule: SettleRule) -> tuple[float, float]:
    """``T1 = confidence - C``, ``T2 = min outside the offset window - min inside`` (inf when nothing is outside)."""
    mdist = np.asarray(mdist, dtype=np.float64)
    t1 = float(np.median(mdist) - mdist.min()) - rule.min_confidence
    offsets = rule.vshift - np.arange(len(mdist))  # candidate k has offset vshift - k
    inside = np.abs(offsets) <= rule.max_offset
    t2 = math.inf if inside.all() else float(mdist[~inside].min() - mdist[inside].min())
    return t1, t2


def decide(rows: np.ndarray, rule: SettleRule, look: int) -> bool | None:
    """True (accepted), False (rejected) or None (not yet decisive) from the distance rows ``(n, 31)`` so far."""
    if not rule.enabled:
        return None
    if rule.certain:
        return True
    rows = np.asarray(rows, dtype=np.float64)
    n = len(rows)
    n_blocks = n // BLOCK_WINDOWS
    if n_blocks < 3:
        return None
    t1, t2 = margins(rows.mean(0), rule)
    edges = np.linspace(0, n, n_blocks + 1).astype(int)  # contiguous blocks, sizes within one window
    total = rows.sum(0)
    jack = []
    for a, b in zip(edges[:-1], edges[1:]):
        jack.append(margins((total - rows[a:b].sum(0)) / (n - (b - a)), rule))
    jack_arr = np.asarray(jack)  # (blocks, 2)
    finite = np.isfinite(jack_arr)
    jack_arr = np.where(finite, jack_arr, 0.0)
    se = np.sqrt((n_blocks - 1) / n_blocks * ((jack_arr - jack_arr.mean(0)) ** 2).sum(0))
    from scipy.stats import t as student_t

    q = float(student_t.ppf(1.0 - look_alpha(rule.alpha, look) / 2.0, df=n_blocks - 1))
    c_certain = rule.min_confidence <= 0
    o_certain = not math.isfinite(t2)
    if (t1 < -q * se[0] and not c_certain) or (t2 < -q * se[1] and not o_certain):
        return False
    if (c_certain or t1 > q * se[0]) and (o_certain or t2 > q * se[1]):
        return True
    return None
