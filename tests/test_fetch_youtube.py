"""The YouTube path (channel URL, watch URLs from a list) with yt-dlp's extractor results injected.

No network: yt-dlp's own ``YoutubeTabIE`` and ``YoutubeIE`` are selected for the real
YouTube URLs, but their ``_real_extract`` is replaced by one returning what they would
report (a flat uploads listing; per-video metadata whose formats point at the loopback
server).  Everything after extraction -- the match filter, format selection, the
download, the archive (keyed ``youtube <id>``) -- is yt-dlp's and realsync's real code.
"""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner
from yt_dlp.extractor import youtube as yt
from yt_dlp.utils import ExtractorError

import fetch_support as fs
from realsync_build.core import manifest
from realsync_build.cli import app
from realsync_build.core.schema import VIDEOS

CNN = "https://www.youtube.com/@CNN/videos"
WATCH = "https://www.youtube.com/watch?v={}"
MIN_MINUTES = 2 / 60  # tiny 3 s media; see test_fetch_loopback.py


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    return fs.make_media(tmp_path_factory.mktemp("media"))


@pytest.fixture
def youtube(media, monkeypatch):
    """A loopback site whose videos yt-dlp's YouTube extractors report (injected results)."""
    site = fs.LoopbackSite(media)
    site.add_video("CNN", "-OR-bvQNDSs", duration=3.0, tbr=2500)  # ids with '-' and '_' as on YouTube
    site.add_video("CNN", "_pYLBF3Uz9E", duration=3.0, merged=True, height=720, tbr=1400)
    site.add_video("CNN", "w_cJYKM7J2Q", duration=3.0, height=360, tbr=600)
    site.add_video("CNN", "shortclip01", duration=1.0)
    site.add_video("CNN", "upcoming001", live_status="is_upcoming", in_listing={"duration": None})
    private = "privatevid1"
    site.channels["CNN"].append({"id": private, "title": "[Private video]"})
    calls = {"tab": 0, "video": []}

    def tab_extract(self, url):
        calls["tab"] += 1
        entries = [
            self.url_result(WATCH.format(e["id"]), yt.YoutubeIE, e["id"], e.get("title"), **{k: v for k, v in e.items() if k not in ("id", "title")})
            for e in site.channels["CNN"]
        ]
        return self.playlist_result(entries, "UCupvZG-5ko_eiXAupbDfxWw", "CNN - Videos", channel="CNN", uploader_id="@CNN")

    def video_extract(self, url):
        vid = self._match_id(url)
        calls["video"].append(vid)
        if vid == private:
            raise ExtractorError("Private video. Sign in if you've been granted access to this video", expected=True, video_id=vid)
        meta = dict(site.videos[vid])
        meta.update(webpage_url=WATCH.format(vid), channel="CNN", uploader_id="@CNN")
        return meta

    monkeypatch.setattr(yt.YoutubeTabIE, "_real_extract", tab_extract)
    monkeypatch.setattr(yt.YoutubeTabIE, "_real_initialize", lambda self: None)
    monkeypatch.setattr(yt.YoutubeIE, "_real_extract", video_extract)
    monkeypatch.setattr(yt.YoutubeIE, "_real_initialize", lambda self: None)
    site.calls = calls
    yield site
    site.close()


def rows_of(root) -> pd.DataFrame:
    return manifest.read(root / "manifests" / "videos.parquet", VIDEOS).set_index("video_id")


def test_channel_url_run_on_youtube(youtube, tmp_path, monkeypatch):
    from realsync_build.core.ui import console

    monkeypatch.setattr(console, "width", 200)  # the table on one line per channel
    root = tmp_path / "data"
    args = ["fetch", "--root", str(root), "--channel", CNN, "--category", "news", "--min-minutes", str(MIN_MINUTES),
            "--min-height", "720", "--executor", "inline", "--retries", "0", "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert youtube.calls["tab"] == 1
    # flat listing rejected the short and the upcoming video without asking for their pages
    assert "shortclip01" not in youtube.calls["video"] and "upcoming001" not in youtube.calls["video"]
    rows = rows_of(root)
    assert sorted(rows.index) == ["-OR-bvQNDSs", "_pYLBF3Uz9E"]
    assert set(rows["status"]) == {"done"} and set(rows["channel"]) == {"CNN"} and set(rows["category"]) == {"news"}
    assert rows.loc["-OR-bvQNDSs", "url"] == WATCH.format("-OR-bvQNDSs")
    assert (root / "raw" / "CNN" / "-OR-bvQNDSs.mp4").is_file() and (root / "raw" / "CNN" / "_pYLBF3Uz9E.info.json").is_file()
    assert sorted((root / "raw" / "download-archive.txt").read_text().splitlines()) == [
        "youtube -OR-bvQNDSs",
        "youtube _pYLBF3Uz9E",
    ]
    out = " ".join(result.output.split())
    for reason in ("short 1", "live 1", "height 1", "unavailable 1"):
        assert reason in out, out


def test_from_list_downloads_exactly_the_listed_videos(youtube, tmp_path):
    listing = tmp_path / "two.csv"
    listing.write_text(
        "-OR-bvQNDSs_0_300_10_0,10.0,CNN\n-OR-bvQNDSs_0_300_20_0,20.0,CNN\nw_cJYKM7J2Q_300_600_310_0,310.0,NBCNews\n"
    )
    root = tmp_path / "data"
    result = CliRunner().invoke(app, ["fetch", "--root", str(root), "--from-list", str(listing), "--executor", "inline", "--no-progress"])
    assert result.exit_code == 0, result.output
    rows = rows_of(root)
    assert sorted(rows.index) == ["-OR-bvQNDSs", "w_cJYKM7J2Q"]
    assert set(rows["status"]) == {"done"}
    assert rows.loc["w_cJYKM7J2Q", "channel"] == "NBCNews"  # the list's channel, not the uploader
    assert (root / "raw" / "NBCNews" / "w_cJYKM7J2Q.mp4").is_file()  # no rules: a list is reproduced as named
    assert "_pYLBF3Uz9E" not in youtube.calls["video"]
