"""report/index.html in a real browser: headless Chromium (Debian's ``chromium``, installed by .ci/run).

Fails if any image does not load or the console shows an error; keeps a full-page
screenshot for the developer (its path is printed: ``pytest -s`` shows it)."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from browser import find_browser, open_page
from realsync_build.core import manifest
from realsync_build.stages.split.run import SplitConfig, run_split
from realsync_build.stages.stats import run_stats
from splitdata import annotate, clip_rows, write_clips

pytestmark = pytest.mark.skipif(find_browser() is None, reason="no chromium on PATH: install Debian's package (sudo apt-get install chromium); .ci/run does")


def _full_root(ds):
    rows = clip_rows("CNN", "n1", 3) + clip_rows("CNN", "n2", 2) + clip_rows("NFL", "s1", 3, category="sports")
    rows += clip_rows("NFL", "s2", 2, category="sports") + clip_rows("mlb", "b1", 4, category="sports")
    write_clips(ds, rows)
    clips = manifest.read_named(ds, "clips")
    annotate(ds, clips, th_s=110.0, vo_s=40.0, unscored_s=20.0)
    run_split(ds, SplitConfig(seed=0))
    # an evaluation, as `realsync evaluate` leaves it (its figure drawn by its own plotting code)
    from realsync_build.streamsync.evaluate import plot_by_iteration

    out = ds.report / "eval-test"
    out.mkdir(parents=True)
    rows_it = [{"iteration": k, "snapshot": 0.1 + 0.02 * k, "apa": 0.12 + 0.03 * k, "streamsync": 0.15 + 0.04 * k} for k in range(1, 6)]
    plot_by_iteration(rows_it, out / "by_iteration.png", "test: accuracy by iteration (12 segments)")
    m = {"acc": 0.31, "acc_pm1": 0.52, "roc_auc": 0.71, "map": None, "n": 12, "per_scenario": {"talking_head": {"acc": 0.4, "n": 7}, "other": {"acc": 0.2, "n": 5}}}
    metrics = {"split": "test", "n_segments": 12, "n_failed": 0, "iterations": 5, "hop_s": 2.0, "snapshot": m, "apa": m, "streamsync": m, "notes": []}
    (out / "metrics.json").write_text(json.dumps(metrics))
    return run_stats(ds, name="browser check")


def test_the_report_renders_in_headless_chromium_with_every_image_and_no_console_error(ds, tmp_path):
    res = _full_root(ds)
    shot = tmp_path / "report.png"
    page = open_page(res.index, shot)
    print(f"\nreport screenshot: {shot}")
    assert page.problems == []
    html = res.index.read_text()
    assert page.n_images == html.count("<img ") == 5  # four report figures and the evaluation's
    assert page.title == "browser check: realsync dataset report"
    w, h = Image.open(shot).size
    assert w >= 1100 and h > 3000  # the whole page (less a scrollbar), not just the first screen


def test_the_browser_check_catches_a_missing_image_and_a_console_error(tmp_path):
    """The check can fail: a page with one image gone and a script that logs an error."""
    page_dir = tmp_path / "page"
    page_dir.mkdir()
    (page_dir / "ok.png").write_bytes(_tiny_png())
    (page_dir / "index.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>t</title></head><body>"
        "<img src='ok.png'><img src='gone.png'><script>console.error('boom')</script></body></html>"
    )
    page = open_page(page_dir / "index.html", tmp_path / "bad.png")
    assert page.broken_images == ["gone.png"]
    assert any("boom" in e for e in page.console_errors)
    assert page.n_images == 2


def _tiny_png() -> bytes:
    import io

    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()
