"""The download stage function: one planned video -> one row of ``videos.parquet``.

Runs in a worker process (the stage driver maps it over pending videos).  yt-dlp
writes under a hidden working name ``raw/{channel}/.{id}.fetching.*`` (its ``.part``
files live there too, so a rerun resumes them with ``continuedl``); only when the
download, the merge and a PyAV probe all succeed is the media renamed to
``raw/{channel}/{id}.{ext}`` next to ``{id}.info.json``.  A video given up on leaves
nothing behind unless ``keep_partial``.

File names come from the (sanitised) video id only; titles never reach a path.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from yt_dlp.utils import DownloadError

from realsync_build.core import atomic
from realsync_build.stages.fetch.config import FetchConfig
from realsync_build.core.ids import is_file_safe_id
from realsync_build.stages.fetch.select import MatchFilter, total_kbps
from realsync_build.stages.fetch.ydl import YdlLog, base_params, clean_message, format_selector, make_ydl, parse_rate
from realsync_build.media.probe import ProbeError, SourceInfo, probe_source
from realsync_build.core.root import DatasetRoot, from_task, safe_name
from realsync_build.core.schema import DONE, FAILED, SKIPPED

MEDIA_EXTS = ("mp4", "mkv", "webm", "mov", "m4v", "flv", "ts")
WORK_MARK = ".fetching"
ARCHIVE_NAME = "download-archive.txt"


class FetchError(RuntimeError):
    pass


def channel_dir(root: DatasetRoot, channel: str) -> Path:
    return root.raw / safe_name(channel)


def work_prefix(video_id: str) -> str:
    return f".{video_id}{WORK_MARK}"


def info_json_path(folder: Path, video_id: str) -> Path:
    return folder / f"{video_id}.info.json"


def archive_path(root: DatasetRoot) -> Path:
    return root.raw / ARCHIVE_NAME


def find_final(folder: Path, video_id: str) -> Path | None:
    for ext in MEDIA_EXTS:
        p = folder / f"{video_id}.{ext}"
        if p.is_file():
            return p
    return None


def working_files(folder: Path, video_id: str) -> list[Path]:
    """yt-dlp's files for this video: .part, .ytdl, per-format files, an unfinished merge."""
    if not folder.is_dir():
        return []
    prefix = work_prefix(video_id)
    return sorted(p for p in folder.iterdir() if p.name.startswith(prefix) and p.is_file())


def remove_working_files(folder: Path, video_id: str) -> int:
    n = 0
    for p in working_files(folder, video_id):
        p.unlink(missing_ok=True)
        n += 1
    return n


def check_media(path: Path, expected_duration_s: float | None) -> SourceInfo:
    """PyAV probe of a downloaded file: it must have video, audio and (about) the announced length."""
    info = probe_source(path)
    if not info.has_video:
        raise ProbeError("downloaded file has no video stream")
    if not info.has_audio:
        raise ProbeError("downloaded file has no audio stream")
    if info.duration_s <= 0:
        raise ProbeError("downloaded file has no duration")
    if expected_duration_s and info.duration_s < expected_duration_s - max(5.0, 0.05 * expected_duration_s):
        raise ProbeError(f"downloaded file lasts {info.duration_s:.1f} s of the announced {expected_duration_s:.1f} s (truncated)")
    return info


class Reporter:
    """Progress of one video, sent to the driver's display (a queue; None: silent)."""

    def __init__(self, queue, video_id: str, title: str, duration_s: float | None = None) -> None:
        self.queue, self.video_id, self.last = queue, video_id, 0.0
        self._send(("start", video_id, title, duration_s))

    def _send(self, msg) -> None:
        if self.queue is None:
            return
        try:
            self.queue.put_nowait(msg)
        except Exception:  # noqa: BLE001 - a display problem never fails a download
            self.queue = None

    def hook(self, d: dict) -> None:
        status = d.get("status")
        now = time.monotonic()
        if status == "downloading" and now - self.last < 0.2:
            return
        self.last = now
        if status in ("downloading", "finished"):
            total = d.get("total_bytes") or d.get("total_bytes_estimate")
            self._send(("bytes", self.video_id, int(d.get("downloaded_bytes") or 0), int(total) if total else None))

    def end(self, status: str) -> None:
        self._send(("end", self.video_id, status))


def _row(task: dict, **kw) -> dict:
    row = {k: task.get(k) for k in ("video_id", "channel", "category", "title", "upload_date", "duration_s", "width", "height", "fps", "tbr_kbps", "url")}
    row.update(path=None, size_bytes=None, error=None)
    row.update(kw)
    return row


def _done_row(task: dict, root: DatasetRoot, final: Path, media: SourceInfo, meta: dict) -> dict:
    return _row(
        task,
        title=_text(meta.get("title")) or task.get("title"),
        upload_date=_text(meta.get("upload_date")) or task.get("upload_date"),
        duration_s=media.duration_s,
        width=media.width,
        height=media.height,
        fps=media.fps,
        tbr_kbps=total_kbps(meta) or task.get("tbr_kbps"),
        path=root.rel(final),
        size_bytes=final.stat().st_size,
        status=DONE,
    )


def _text(value, max_len: int = 500) -> str | None:
    return None if value is None else str(value)[:max_len]


def _load_meta(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _scrub(obj):
    """Drop cookies from metadata before it is written next to the dataset."""
    if isinstance(obj, dict):
        return {k: _scrub(v) for k, v in obj.items() if k.lower() not in ("cookies", "cookie")}
    if isinstance(obj, list):
        return [_scrub(v) for v in obj]
    return obj


def _write_meta(ydl, info: dict, path: Path, final: Path) -> None:
    clean = _scrub(ydl.sanitize_info(dict(info), remove_private_keys=True))
    clean["filepath"] = final.name
    atomic.write_text(path, json.dumps(clean, ensure_ascii=False))


def fetch_video(task: dict) -> list[dict]:
    """Stage function: download ``task`` (a planned row plus config) and return its videos row."""
    cfg = FetchConfig.from_dict(task["config"])
    root = from_task(task)  # a URL root: downloaded into the local mirror, then published
    vid = task["video_id"]
    if not is_file_safe_id(vid):
        raise FetchError(f"video id {vid!r} is not file-safe")  # the planner never produces this
    folder = channel_dir(root, task["channel"])
    folder.mkdir(parents=True, exist_ok=True)
    reporter = Reporter(task.get("progress"), vid, _text(task.get("title"), 60) or vid, _number(task.get("duration_s")))
    status = FAILED
    try:
        rows = _fetch(task, cfg, root, folder, vid, reporter)
        if root.url is not None and rows[0]["status"] == DONE:
            _publish(root, folder, vid, rows[0])
        status = rows[0]["status"]
        return rows
    finally:
        reporter.end(status)


def _publish(root: DatasetRoot, folder: Path, vid: str, row: dict) -> None:
    """URL root: publish the checked download and its metadata (each one atomic put), then drop the
    local media copy (the URL holds it; the driver checks it there)."""
    meta = info_json_path(folder, vid)
    if meta.is_file():
        root.publish(meta)
    media = root.abs(row["path"])
    root.publish(media)
    media.unlink(missing_ok=True)


def _fetch(task: dict, cfg: FetchConfig, root: DatasetRoot, folder: Path, vid: str, reporter: Reporter) -> list[dict]:
    meta_path = info_json_path(folder, vid)
    archive = archive_path(root) if cfg.use_archive else None

    def reuse() -> list[dict] | None:
        """A finished file from an earlier run (manifest lost, or rebuilt): trusted only after a probe."""
        final = find_final(folder, vid)
        if final is None:
            return None
        try:
            media = check_media(final, None)
        except ProbeError:
            final.unlink(missing_ok=True)  # never trust it; fetch again
            return None
        remove_working_files(folder, vid)
        return [_done_row(task, root, final, media, _load_meta(meta_path))]

    if archive is None:  # without yt-dlp's archive, a valid file is the record
        reused = reuse()
        if reused is not None:
            return reused
    try:
        result = _download(task, cfg, folder, vid, reporter, archive)
        if result is None:
            # yt-dlp's archive says this video was fetched: no request is made if its file is here
            reused = reuse()
            if reused is not None:
                return reused
            # recorded, but the file is gone or broken (killed before the rename, failed probe): fetch again
            result = _download(task, cfg, folder, vid, reporter, None)
        if result is None:
            raise FetchError("yt-dlp returned no result")
        ydl, info, filter_ = result
        rejection = filter_.rejections.get(str(info.get("id"))) if filter_ else None
        if rejection is not None:
            remove_working_files(folder, vid)
            return [_row(task, status=SKIPPED, error=f"rejected at download time: {rejection}")]
        downloads = info.get("requested_downloads") or []
        if not downloads or not downloads[0].get("filepath"):
            raise FetchError("yt-dlp finished without a file (not downloaded)")
        work = Path(downloads[0]["filepath"]).resolve()
        if work.parent != folder.resolve() or not work.name.startswith(work_prefix(vid)):
            raise FetchError(f"yt-dlp wrote an unexpected path {work.name!r}")
        ext = work.suffix.lstrip(".").lower()
        if ext not in MEDIA_EXTS:
            raise FetchError(f"unexpected container {ext!r}")
        try:
            media = check_media(work, _number(info.get("duration")))
        except ProbeError as exc:
            work.unlink(missing_ok=True)
            raise FetchError(f"the downloaded file failed the probe: {exc}") from None
        final = folder / f"{vid}.{ext}"
        for old in (find_final(folder, vid),):
            if old is not None and old != final:
                old.unlink(missing_ok=True)
        _write_meta(ydl, info, meta_path, final)
        atomic.commit(work, final)  # probed and checked: renamed into place
        remove_working_files(folder, vid)
        return [_done_row(task, root, final, media, info)]
    except Exception:
        if not cfg.keep_partial:
            remove_working_files(folder, vid)
        raise


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _download(task: dict, cfg: FetchConfig, folder: Path, vid: str, reporter: Reporter, archive: Path | None):
    """One yt-dlp download; None when its archive says the video was fetched already."""
    log = YdlLog()
    filter_ = MatchFilter(cfg.rules()) if task.get("apply_rules") else None
    params = base_params(cfg, log)
    params.update(
        {
            "format": format_selector(cfg.min_height, cfg.max_height, fallback=True),
            "merge_output_format": "mp4/mkv",
            "outtmpl": {"default": str(folder / f"{work_prefix(vid)}.%(ext)s")},
            "continuedl": True,
            "nopart": False,
            "keepvideo": False,
            "concurrent_fragment_downloads": 1,
            "progress_hooks": [reporter.hook],
            "match_filter": filter_,
        }
    )
    rate = parse_rate(cfg.limit_rate)
    if rate:
        params["ratelimit"] = rate
    if archive is not None:
        archive.parent.mkdir(parents=True, exist_ok=True)
        params["download_archive"] = str(archive)
    with make_ydl(params, cfg) as ydl:
        try:
            info = ydl.extract_info(task["url"], download=True)
        except DownloadError as exc:
            raise FetchError(clean_message(log.errors[-1] if log.errors else str(exc))) from None
        if info is None:
            if log.errors:
                raise FetchError(log.errors[-1])
            return None
        if archive is not None and not info.get("requested_downloads") and ydl.in_download_archive(info):
            return None
        return ydl, info, filter_
