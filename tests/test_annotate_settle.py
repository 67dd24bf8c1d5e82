"""Settling a SyncNet run early (models/sync_settle.py): decisive runs stop being scored, an
undecided run is scored whole with the reference's numbers, and the prefix evaluation reads
exactly the whole run's audio features and distance rows."""

from __future__ import annotations

import numpy as np
import pytest

from realsync_build.models.sync_settle import BLOCK_WINDOWS, SettleRule, decide, look_alpha, margins
from realsync_build.models.syncnet import SyncNetScorer, window_distances


def _rows(n: int, best_k: int, depth: float, noise: float, seed: int = 0) -> np.ndarray:
    """Distance rows with a dip of ``depth`` at candidate ``best_k`` and window noise."""
    rng = np.random.default_rng(seed)
    base = np.full((n, 31), 10.0) + rng.normal(0, noise, (n, 31))
    base[:, best_k] -= depth
    return base


def test_margins_are_the_reference_decision():
    rule = SettleRule(min_confidence=3.0, max_offset=6)
    md = np.full(31, 10.0)
    md[15 - 2] = 5.0  # offset +2, confidence 5
    t1, t2 = margins(md, rule)
    assert t1 == pytest.approx(2.0) and t2 == pytest.approx(5.0)
    md[15 - 9] = 4.0  # a deeper minimum outside the +/-6 window: rejected
    t1, t2 = margins(md, rule)
    assert t1 == pytest.approx(3.0) and t2 == pytest.approx(-1.0)
    assert margins(md, SettleRule(3.0, 15))[1] == np.inf  # every offset inside


def test_the_rule_settles_clear_runs_and_waits_on_close_ones():
    rule = SettleRule(min_confidence=3.0, max_offset=6, alpha=0.01)
    assert decide(_rows(60, 15, depth=8.0, noise=1.0), rule, 1) is True  # confidence ~8: accepted
    assert decide(_rows(60, 15, depth=0.5, noise=1.0), rule, 1) is False  # confidence ~0.5: rejected
    assert decide(_rows(60, 3, depth=8.0, noise=1.0), rule, 1) is False  # clear, but offset +12: rejected
    assert decide(_rows(60, 15, depth=3.0, noise=1.0), rule, 1) is None  # at the threshold: go on
    assert decide(_rows(2 * BLOCK_WINDOWS, 15, depth=8.0, noise=1.0), rule, 1) is None  # too few blocks yet
    assert decide(_rows(60, 15, depth=8.0, noise=1.0), SettleRule(3.0, 6, alpha=0.0), 1) is None  # 0: never
    # permissive thresholds make acceptance certain: settled without a test
    assert decide(_rows(60, 15, depth=0.0, noise=1.0), SettleRule(0.0, 15), 1) is True
    # looking more often does not spend more than alpha
    assert sum(look_alpha(0.01, j) for j in range(1, 100000)) == pytest.approx(0.01, rel=1e-4)


def test_the_rule_errs_less_often_than_its_bound():
    """Runs drawn near the threshold: the settled answer agrees with the whole run's answer
    at least as often as 1 - alpha says (block-correlated noise, as neighbouring windows are)."""
    rule = SettleRule(min_confidence=3.0, max_offset=15, alpha=0.05)
    rng = np.random.default_rng(7)
    wrong = settled = 0
    for trial in range(300):
        n = 300
        depth = 3.0 + rng.normal(0, 0.6)
        block_noise = np.repeat(rng.normal(0, 1.5, (n // 5, 31)), 5, axis=0)  # correlated over 5 windows
        rows = np.full((n, 31), 10.0) + block_noise
        rows[:, 15] -= depth
        whole = margins(rows.mean(0), rule)[0] >= 0
        for look, m in enumerate(range(50, n, 32), start=1):
            got = decide(rows[:m], rule, look)
            if got is not None:
                settled += 1
                wrong += got != whole
                break
    assert settled > 50  # the rule settles a good share even of these close runs
    assert wrong <= rule.alpha * settled


@pytest.fixture(scope="module")
def run_inputs():
    from test_models_syncnet import official_random_state

    rng = np.random.default_rng(3)
    crops = rng.integers(0, 255, (80, 224, 224, 3), dtype=np.uint8)
    audio = (rng.standard_normal(120 * 640) * 0.1).astype(np.float32)  # the clip goes on after the run
    return official_random_state(), crops, audio


def _stream(scorer, crops, audio, rule):
    run = scorer.open_run(hold_frames=50, settle=rule, audio=audio)
    for p, c in enumerate(crops):
        run.push(c if run.needs(p) else None)
    return run, run.finish(audio[: len(crops) * 640])


@pytest.mark.slow
def test_a_run_undecided_to_its_end_is_scored_whole_with_the_reference_numbers(run_inputs):
    state, crops, audio = run_inputs
    from realsync_build.models.syncnet import sync_offset

    scorer = SyncNetScorer(state, batch_size=16, engine="torch")
    v, a = scorer.embed(crops, audio[: len(crops) * 640])
    whole = sync_offset(v, a, 15)  # what score() gives on the whole run
    # a threshold at the whole run's own confidence can never be decisive
    rule = SettleRule(min_confidence=whole.confidence, max_offset=15, alpha=0.01)
    run, res = _stream(scorer, crops, audio, rule)
    assert run.looks >= 2 and run.settled is None
    assert res.offset_frames == whole.offset_frames
    np.testing.assert_allclose(res.dists, whole.dists, rtol=1e-5)
    # the looks read exactly the whole run's audio features and (final) distance rows
    prefix_a = np.concatenate(run._afeats) if run._afeats else None
    assert prefix_a is not None and len(prefix_a) >= 55
    np.testing.assert_allclose(prefix_a, a[: len(prefix_a)], atol=1e-4)
    rows = np.concatenate(run._rows)
    assert len(rows) >= 35
    np.testing.assert_allclose(rows, window_distances(v, a, 15)[: len(rows)], atol=1e-4)


def test_a_decisive_run_settles_at_its_first_look_and_crops_nothing_more(run_inputs):
    state, crops, audio = run_inputs
    scorer = SyncNetScorer(state, batch_size=16, engine="torch")
    run, res = _stream(scorer, crops, audio, SettleRule(min_confidence=1e6, max_offset=6))  # clearly rejected
    assert run.settled is not None and run.looks == 1 and res is run.settled
    assert run.settled_windows == 45 and scorer.lip_windows == 45  # 50 frames held, then one batch: not 75
    assert not run.needs(80) and not run._crops
    certain = SyncNetScorer(state, batch_size=16, engine="torch")
    run2, _ = _stream(certain, crops, audio, SettleRule(min_confidence=0.0, max_offset=15))  # accepted, certain
    assert run2.settled is not None and run2.settled_windows == 45
