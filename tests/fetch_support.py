"""A loopback "video site" for the fetch tests: an HTTP server on 127.0.0.1 and its yt-dlp extractors.

The server (threaded ``http.server``, port 0) serves

* ``/api/channel/{name}`` - a channel's upload list (what a YouTube tab listing reports
  per entry: id, title, duration, live status),
* ``/api/video/{id}``     - one video's metadata with its formats (height, tbr, ...),
* ``/media/{file}``       - the media files, with HTTP Range support (so yt-dlp can resume),

and can be told to misbehave per media file: answer 404 or 500, drop the connection
half-way through the body once, or stall there (a trickle of bytes that keeps the transfer
in flight for minutes, for Ctrl-C tests).  A channel's entries may point their watch pages
at another address (``watch_base``, e.g. a port where nothing listens: an offline site).  Every request is logged with its
``Range`` header.

Two extractors read it: :class:`LoopbackChannelIE` (``http://127.0.0.1:PORT/channel/NAME``,
a playlist) and :class:`LoopbackVideoIE` (``http://127.0.0.1:PORT/watch/ID``).  The
fetch code gets them through ``FetchConfig.extractors`` / ``--extractor``, exactly as a
site plug-in would be given.  Nothing here fakes yt-dlp itself: listing, format
selection, HTTP download, retries, resume, merging and the archive are yt-dlp's.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote

from yt_dlp.extractor.common import InfoExtractor

from realsync_build.media.ffmpeg import run_ffmpeg
from realsync_build.media.synth import make_source

CHANNEL_IE = "fetch_support:LoopbackChannelIE"
VIDEO_IE = "fetch_support:LoopbackVideoIE"
EXTRACTORS = (CHANNEL_IE, VIDEO_IE)


def make_media(folder: Path, duration_s: float = 3.0) -> dict[str, Path]:
    """Tiny real media: a progressive mp4 (video+audio), a video-only mp4 and an audio-only m4a.

    They are small (256x144) so the tests stay fast; the metadata the site reports
    (heights like 720/1080) is what the selection rules see.
    """
    folder.mkdir(parents=True, exist_ok=True)
    av = make_source(folder / "av.mp4", duration_s, width=256, height=144, fps="25", sample_rate=16000, audio="tone")
    vonly = make_source(folder / "v.mp4", duration_s, width=256, height=144, fps="25", audio="none")
    aonly = folder / "a.m4a"
    run_ffmpeg(["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=16000:duration={duration_s}", "-c:a", "aac", "-vn", str(aonly)])
    return {"av": av, "v": vonly, "a": aonly}


class LoopbackSite:
    def __init__(self, media: dict[str, Path]) -> None:
        self.files: dict[str, bytes] = {}
        self.channels: dict[str, list[dict]] = {}
        self.videos: dict[str, dict] = {}
        self.faults: dict[str, str] = {}  # media file name -> "404" | "500" | "drop_once" | "stall"
        self.watch_base: dict[str, str] = {}  # channel -> base URL its entries' watch pages are at (default: this site)
        self.requests: list[tuple[str, str | None]] = []
        self.cookies: list[str] = []  # Cookie headers of media requests
        self.lock = threading.Lock()
        self.media = {k: Path(v).read_bytes() for k, v in media.items()}
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                site._serve(self)

            def do_HEAD(self):
                site._serve(self, head=True)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):  # a client hanging up is expected here
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ---------------------------------------------------------------- catalog
    def add_video(
        self,
        channel: str,
        video_id: str,
        *,
        title: str | None = None,
        duration: float = 3.0,
        height: int = 1080,
        tbr: float = 3000.0,
        live_status: str = "not_live",
        availability: str | None = None,
        merged: bool = False,
        in_listing: dict | None = None,
        media_base: str | None = None,
    ) -> str:
        """Add a video; returns the name of its (main) media file on the server (served from
        ``media_base`` when given, e.g. a dead port: the page answers, the download does not)."""
        key = quote(video_id, safe="")
        base = media_base or self.base
        name = f"{key}.mp4"
        formats = []
        if merged:
            self.files[name] = self.media["v"]
            self.files[f"{key}.m4a"] = self.media["a"]
            formats.append(dict(format_id=f"v{height}", url=f"{base}/media/{name}", ext="mp4", width=height * 16 // 9, height=height, fps=25, vcodec="avc1.64001f", acodec="none", tbr=tbr - 128, protocol="https"))
            formats.append(dict(format_id="a128", url=f"{base}/media/{key}.m4a", ext="m4a", vcodec="none", acodec="mp4a.40.2", abr=128, tbr=128, protocol="https"))
        else:
            self.files[name] = self.media["av"]
            formats.append(dict(format_id=f"p{height}", url=f"{base}/media/{name}", ext="mp4", width=height * 16 // 9, height=height, fps=25, vcodec="avc1.64001f", acodec="mp4a.40.2", tbr=tbr))
        for f in formats:
            f.pop("protocol", None)
        meta = dict(id=video_id, title=title or f"video {video_id}", duration=duration, live_status=live_status, upload_date="20240101", formats=formats, webpage_url=f"{self.base}/watch/{key}")
        if availability:
            meta["availability"] = availability
        self.videos[video_id] = meta
        flat = dict(id=video_id, title=meta["title"], duration=duration, live_status=live_status)
        if in_listing is not None:
            flat.update(in_listing)
            flat = {k: v for k, v in flat.items() if v is not None}
        self.channels.setdefault(channel, []).append(flat)
        return name

    def channel_url(self, channel: str) -> str:
        return f"{self.base}/channel/{channel}"

    def media_requests(self) -> list[tuple[str, str | None]]:
        with self.lock:
            return [r for r in self.requests if r[0].startswith("/media/")]

    def clear_log(self) -> None:
        with self.lock:
            self.requests.clear()

    # ---------------------------------------------------------------- serving
    def _serve(self, h: BaseHTTPRequestHandler, head: bool = False) -> None:
        path = h.path.split("?", 1)[0]
        with self.lock:
            self.requests.append((path, h.headers.get("Range")))
            if path.startswith("/media/") and h.headers.get("Cookie"):
                self.cookies.append(h.headers["Cookie"])
        if path.startswith("/api/channel/"):
            name = unquote(path[len("/api/channel/"):])
            entries = self.channels.get(name)
            doc = {"entries": entries, **({"watch_base": self.watch_base[name]} if name in self.watch_base else {})}
            return self._json(h, doc if entries is not None else None)
        if path.startswith("/api/video/"):
            return self._json(h, self.videos.get(unquote(path[len("/api/video/"):])))
        if path.startswith("/media/"):
            return self._media(h, path[len("/media/"):], head)
        self._status(h, 404)

    def _status(self, h, code: int) -> None:
        body = f"{code}".encode()
        h.send_response(code)
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Content-Type", "text/plain")
        h.end_headers()
        h.wfile.write(body)

    def _json(self, h, obj) -> None:
        if obj is None:
            return self._status(h, 404)
        body = json.dumps(obj).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _media(self, h, name: str, head: bool) -> None:
        data = self.files.get(name)
        fault = self.faults.get(name)
        if data is None or fault == "404":
            return self._status(h, 404)
        if fault == "500":
            return self._status(h, 500)
        start = 0
        m = re.match(r"bytes=(\d+)-(\d*)", h.headers.get("Range") or "")
        end = len(data) - 1
        if m:
            start = int(m.group(1))
            if m.group(2):
                end = min(end, int(m.group(2)))
            if start > end:
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{len(data)}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
        body = data[start : end + 1]
        h.send_response(206 if m else 200)
        h.send_header("Content-Type", "video/mp4")
        h.send_header("Accept-Ranges", "bytes")
        h.send_header("Content-Length", str(len(body)))
        if m:
            h.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        h.end_headers()
        if head:
            return
        if fault == "stall":  # half the body, then a trickle that keeps the socket alive (until the client goes)
            h.wfile.write(body[: len(body) // 2])
            h.wfile.flush()
            for i in range(len(body) // 2, len(body), 16):
                time.sleep(1.0)
                h.wfile.write(body[i : i + 16])
                h.wfile.flush()
            return
        if fault == "drop_once" and start == 0:
            self.faults.pop(name, None)
            h.wfile.write(body[: len(body) // 2])
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(2)  # the server hangs up mid-body
            return
        h.wfile.write(body)


_BASE = r"(?P<base>https?://127\.0\.0\.1:\d+)"


class LoopbackVideoIE(InfoExtractor):
    IE_NAME = "loopback:video"
    _VALID_URL = _BASE + r"/watch/(?P<id>[^/?#]+)"
    _RETURN_TYPE = "video"

    def _real_extract(self, url):
        m = self._match_valid_url(url)
        key = m.group("id")
        meta = self._download_json(f"{m.group('base')}/api/video/{key}", unquote(key))
        return dict(meta)


class LoopbackChannelIE(InfoExtractor):
    IE_NAME = "loopback:channel"
    _VALID_URL = _BASE + r"/channel/(?P<id>[^/?#]+)"
    _RETURN_TYPE = "playlist"

    def _real_extract(self, url):
        m = self._match_valid_url(url)
        name = m.group("id")
        data = self._download_json(f"{m.group('base')}/api/channel/{name}", name)
        base = data.get("watch_base") or m.group("base")
        entries = []
        for e in data["entries"]:
            extra = {k: v for k, v in e.items() if k not in ("id", "title")}
            entries.append(self.url_result(f"{base}/watch/{quote(e['id'], safe='')}", LoopbackVideoIE, e["id"], e.get("title"), **extra))
        return self.playlist_result(entries, name, f"{name} uploads")
