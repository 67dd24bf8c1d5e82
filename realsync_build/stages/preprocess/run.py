"""``realsync preprocess``: sources -> standardised clips.

Per source video, one ffmpeg run decodes the source once and writes all of its
pending clips: video is converted to constant 25 fps, scaled so the shorter
side is 256 px (even dimensions, aspect kept), split into one branch per clip
and cut with ``trim`` on frame numbers; audio is resampled to 16 kHz mono
(gaps and a late start filled so it stays on the container's timeline), split
and cut with ``atrim`` on sample numbers.  Cutting decoded audio, not encoded
AAC packets (64 ms each at 16 kHz), is what makes every clip's audio exactly
as long as its video.  Each clip is written under a temp name, probed, and
renamed only when it passes :func:`realsync_build.media.probe.check_clip`.

Long sources are processed in runs of at most ``max_clips_per_run`` clips; a
run starts with an input seek, so each source frame is still decoded once.

Progress: with ``progress=True`` the video gets one more branch, uncut: every 25th frame
(one per source second) is tagged and printed by ffmpeg's ``metadata`` filter to stdout
(``direct=1``: unbuffered) and dropped in a ``nullsink``; its ``pts_time`` is the position in
the source, which the worker reports per media second and per clip
(:mod:`realsync_build.core.progress`). The clips are the same with or without it.
Why not ``-progress pipe:1``: ffmpeg sends its first progress report only after every output
has written its header, i.e. when the run's *last* clip starts (up to 16 x 300 s of media in).
"""

from __future__ import annotations

import hashlib
import math
import re
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd

from realsync_build.core import atomic
from realsync_build.core.listed_spans import read_listed_spans
from realsync_build.core.executors.base import Resources, default_workers, failure_detail
from realsync_build.core.itemlog import DETAIL
from realsync_build.core.records import Clip
from realsync_build.media.ffmpeg import FFmpegError, run_ffmpeg, run_ffmpeg_lines
from realsync_build.media.hwaccel import HwPlan, hw_plan
from realsync_build.media.probe import ProbeError, check_clip, probe_clip, probe_source
from realsync_build.core.errors import NothingToDo, UnsafePath, UserError
from realsync_build.core.root import DatasetRoot, check_inside, from_task, safe_name
from realsync_build.core.state import SPECS, stage_run
from realsync_build.core.ids import is_file_safe_id
from realsync_build.core.schema import DONE, FAILED
from realsync_build.core.stage import RunOptions, StageReport, run_stage, task_states
from realsync_build.core.storage import fetch_to_local, is_url
from realsync_build.stages.preprocess.outcomes import KEPT, ClipOutcomes, media_seconds, nothing_to_cut
from realsync_build.core.progress import MediaProgress, TaskProgress

from realsync_build.core.avformat import FPS, SAMPLE_RATE, SHORT_SIDE  # noqa: E402 - the clip format, in one place
from realsync_build.stages.preprocess.sources import (  # noqa: E402, F401 - re-exported: --input sources live in their own module
    discover_sources,
    drop_duplicate_registrations,
    keep_known_ids,
    register_local_sources,
    source_location,
)


class NoSources(UserError):
    """--input names a folder without a single media file: a mistake, not "0 done"."""


@dataclass
class PreprocessConfig:
    clip_seconds: int = 300
    keep_tail: bool = False
    crf: int = 18
    preset: str = "veryfast"
    audio_bitrate: str = "64k"
    threads_per_job: int = 0  # 0: cores / workers
    hwaccel: str = "none"  # none | cuda (decode+scale on the GPU, NVENC where present; see media/hwaccel.py)
    nvenc_cq: int = 0  # h264_nvenc constant quality; 0: crf + 1 (to be calibrated on a GPU: bench/gpu_check.sh)
    max_clips_per_run: int = 16
    category: str = "unknown"  # for channels not in manifests/channels.toml
    category_map: dict[str, str] = field(default_factory=dict)  # channel -> category, wins over both


@dataclass
class ClipPlan:
    start_s: int
    end_s: int

    @property
    def frames(self) -> tuple[int, int]:
        return self.start_s * FPS, self.end_s * FPS

    @property
    def samples(self) -> tuple[int, int]:
        return self.start_s * SAMPLE_RATE, self.end_s * SAMPLE_RATE


def plan_clips(duration_s: float, clip_seconds: int, keep_tail: bool) -> list[ClipPlan]:
    """Clip boundaries (whole seconds): full clips, plus the tail (>= 1 s) when asked."""
    whole = int(math.floor(duration_s + 1e-6))
    n_full = whole // clip_seconds
    plans = [ClipPlan(i * clip_seconds, (i + 1) * clip_seconds) for i in range(n_full)]
    tail_start = n_full * clip_seconds
    if keep_tail and whole - tail_start >= 1:
        plans.append(ClipPlan(tail_start, whole))
    return plans


def clip_id_for(video_id: str, plan: ClipPlan) -> str:
    return f"{video_id}_{plan.start_s}_{plan.end_s}"


def _scale_expr() -> str:
    # Shorter side to 256 px, the other side keeps the aspect with an even size.
    return f"scale=w='if(gte(iw,ih),-2,{SHORT_SIDE})':h='if(gte(iw,ih),{SHORT_SIDE},-2)'"


def build_ffmpeg_args(
    src: Path,
    plans: list[ClipPlan],
    outputs: list[Path],
    cfg: PreprocessConfig,
    threads: int,
    seek_s: int | None = None,
    hw: HwPlan | None = None,
    progress: bool = False,
) -> list[str]:
    """One ffmpeg invocation writing every clip in ``plans`` from a single decode that starts at
    ``seek_s`` (default: the first clip's start).

    ``hw`` (``--hwaccel cuda``) moves decode / scale / encode to the GPU part by part; with
    every part on the CPU (or ``hw=None``) the arguments are exactly the CPU path's.

    ``progress``: one more video branch prints ``pts_time`` (seconds since ``seek_s``) of every
    25th frame to stdout, for :func:`run_ffmpeg_lines` (CPU-scaled frames only: with
    ``scale_cuda`` the frames stay on the GPU and the branch is left out).
    """
    hw = hw or HwPlan()
    progress = progress and hw.scale != "cuda"
    offset_s = plans[0].start_s if seek_s is None else seek_s
    n = len(plans)
    vlabels = "".join(f"[v{i}]" for i in range(n)) + ("[vprogress]" if progress else "")
    alabels = "".join(f"[a{i}]" for i in range(n))
    if hw.scale == "cuda":  # frames stay on the GPU from NVDEC through scale_cuda
        vchain = f"fps={FPS}:start_time=0,{_scale_expr().replace('scale=', 'scale_cuda=', 1)}:format=yuv420p,setsar=1"
        if hw.encode != "h264_nvenc":
            vchain += ",hwdownload,format=yuv420p"
    else:
        vchain = f"fps={FPS}:start_time=0,{_scale_expr()},setsar=1,format=yuv420p"
    graph = [
        f"[0:v:0]{vchain},split={n + int(progress)}{vlabels}",
        f"[0:a:0]aresample={SAMPLE_RATE}:async=1:first_pts=0,"
        f"aformat=sample_fmts=fltp:sample_rates={SAMPLE_RATE}:channel_layouts=mono,asplit={n}{alabels}",
    ]
    for i, p in enumerate(plans):
        f0, f1 = (p.start_s - offset_s) * FPS, (p.end_s - offset_s) * FPS
        s0, s1 = (p.start_s - offset_s) * SAMPLE_RATE, (p.end_s - offset_s) * SAMPLE_RATE
        graph.append(f"[v{i}]trim=start_frame={f0}:end_frame={f1},setpts=PTS-STARTPTS[ov{i}]")
        graph.append(f"[a{i}]atrim=start_sample={s0}:end_sample={s1},asetpts=PTS-STARTPTS[oa{i}]")
    args: list[str] = ["-threads", str(threads)]
    if hw.decode == "cuda":
        args += ["-hwaccel", "cuda"]
        if hw.scale == "cuda":
            args += ["-hwaccel_output_format", "cuda"]
    if offset_s > 0:
        args += ["-ss", str(offset_s)]
    if progress:  # one line per source second on stdout; the branch ends in a nullsink (no output file)
        graph.append(
            f"[vprogress]select='not(mod(n\\,{FPS}))',metadata=mode=add:key=realsync:value=1,"
            "metadata=mode=print:direct=1:file='pipe\\:1',nullsink"
        )
    args += ["-i", str(src), "-filter_complex", ";".join(graph), "-filter_complex_threads", str(threads)]
    if hw.encode == "h264_nvenc":
        cq = cfg.nvenc_cq or cfg.crf + 1
        venc = ["-c:v", "h264_nvenc", "-profile:v", "high", "-preset", "p5", "-tune", "hq", "-rc", "vbr", "-cq", str(cq), "-b:v", "0"]
        if hw.scale != "cuda":
            venc += ["-pix_fmt", "yuv420p"]
    else:
        venc = ["-c:v", "libx264", "-profile:v", "high", "-pix_fmt", "yuv420p", "-crf", str(cfg.crf), "-preset", cfg.preset, "-threads", str(threads)]
    for i, out in enumerate(outputs):
        args += [
            "-map", f"[ov{i}]", "-map", f"[oa{i}]",
            *venc,
            "-fps_mode", "cfr", "-r", str(FPS),
            "-c:a", "aac", "-profile:a", "aac_low", "-b:a", cfg.audio_bitrate, "-ar", str(SAMPLE_RATE), "-ac", "1",
            "-map_metadata", "-1", "-movflags", "+faststart",
            str(out),
        ]  # fmt: skip
    return args


_PTS_TIME = re.compile(r"pts_time:([0-9.]+)")


def clip_rel(task: dict, plan: ClipPlan) -> str:
    """A clip's path relative to the dataset root (the same for a local folder and a URL root)."""
    return f"clips/{safe_name(task['channel'])}/{task['video_id']}/{clip_id_for(task['video_id'], plan)}.mp4"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _clip_identity(task: dict, plan: ClipPlan) -> Clip:
    """What every clip row carries, done or failed: which clip of which video."""
    return Clip(
        clip_id=clip_id_for(task["video_id"], plan),
        video_id=task["video_id"],
        channel=task["channel"],
        category=task["category"],
        start_s=float(plan.start_s),
        end_s=float(plan.end_s),
    )


def _clip_row(task: dict, plan: ClipPlan, rel: str, size_bytes: int, facts, sha256: str | None = None, mtime_ns: int | None = None) -> dict:
    return _clip_identity(task, plan).replace(
        duration_s=float(plan.end_s - plan.start_s),  # the probe checked frames and samples against it
        path=rel,
        n_frames=facts.n_frames,
        width=facts.width,
        height=facts.height,
        fps=facts.fps,
        sample_rate=facts.sample_rate,
        channels=facts.channels,
        size_bytes=size_bytes,
        av_skew_ms=facts.av_skew_ms,
        sha256=sha256,
        mtime_ns=mtime_ns,
        status=DONE,
        error=None,
    ).to_row()


def _failed_clip_row(task: dict, plan: ClipPlan, error: str) -> dict:
    return _clip_identity(task, plan).replace(status=FAILED, error=error).to_row()


def _runs(plans: list[ClipPlan], items: list, size: int) -> list[tuple[int, list]]:
    """Pending (plan, path) pairs grouped by the fixed run they belong to in the full plan (at most
    ``size`` contiguous clips; a gap between clips, e.g. listed spans, starts a new run), each with
    that run's seek point.  A resumed run thus decodes from the same point as an uninterrupted
    one, so the clips it redoes come out byte-identical."""
    run_of: dict[tuple[int, int], int] = {}
    seeks: list[int] = []
    in_run = 0
    for i, p in enumerate(plans):
        if i == 0 or plans[i - 1].end_s != p.start_s or in_run >= size:
            seeks.append(p.start_s)
            in_run = 0
        run_of[(p.start_s, p.end_s)] = len(seeks) - 1
        in_run += 1
    runs: dict[int, list] = {}
    for item in items:
        runs.setdefault(run_of[(item[0].start_s, item[0].end_s)], []).append(item)
    return [(seeks[k], runs[k]) for k in sorted(runs)]


def preprocess_video(task: dict) -> list[dict]:
    """The stage function: one source video -> rows of ``clips.parquet``. Raises on bad input.

    With a URL root (``task["root_url"]``) the clips are made in a local scratch
    folder, checked, and published to the URL one by one (atomic puts); a source
    given as a URL is downloaded to that scratch folder first.
    """
    cfg = PreprocessConfig(**task["config"])
    root = from_task(task)
    progress = TaskProgress(task.get("progress_path"))
    try:
        if root.url is None:
            return _preprocess(task, cfg, root.root, None, progress)
        with tempfile.TemporaryDirectory(prefix="realsync-preprocess-") as scratch:
            return _preprocess(task, cfg, Path(scratch), root, progress)
    finally:
        progress.update(0.0, progress.clips, finished=True)


def _probed(src: Path):
    """The source's facts; a ``ProbeError`` when it cannot give clips (no video, no audio, no duration)."""
    info = probe_source(src)
    if not info.has_video:
        raise ProbeError("no video stream")
    if not info.has_audio:
        raise ProbeError("no audio stream")
    if info.duration_s <= 0:
        raise ProbeError("unknown or zero duration")
    return info


def _plans(task: dict, cfg: PreprocessConfig, duration_s: float) -> tuple[list[ClipPlan], list[ClipPlan]]:
    """The clips to cut, and (``--only-listed``) the listed spans that lie beyond the source's end."""
    if task.get("only_spans") is not None:  # --only-listed: exactly the spans a published list needs
        listed = [ClipPlan(int(a), int(b)) for a, b in task["only_spans"]]
        plans = [p for p in listed if p.end_s <= duration_s + 1e-6]
        return plans, [p for p in listed if p not in plans]
    plans = plan_clips(duration_s, cfg.clip_seconds, cfg.keep_tail)
    if not plans:
        raise ProbeError(
            f"source is {duration_s:.1f} s, shorter than one {cfg.clip_seconds} s clip "
            "(use --clip-seconds to shorten clips or --keep-tail to keep it)"
        )
    return plans, []


def _reuse_valid_clips(
    task: dict, plans: list[ClipPlan], local_root: Path, remote: DatasetRoot | None
) -> tuple[dict[str, dict], list[tuple[ClipPlan, Path]]]:
    """Rows of the clips already cut that still check out (probe + recorded hash), and the clips to cut."""
    rows: dict[str, dict] = {}
    pending: list[tuple[ClipPlan, Path]] = []
    for plan in plans:
        rel = clip_rel(task, plan)
        final = local_root / rel
        if remote is not None and remote.exists(rel):  # published only after validation; re-check it
            remote.get(rel, final)
        if final.is_symlink():  # a clip is never a link: whatever it points at is not ours to read
            check_inside(local_root, final)
            final.unlink()
        if final.exists():  # only ever renamed into place after validation; re-check it (probe + recorded hash)
            try:
                facts = probe_clip(final)
                digest = file_sha256(final)
                expected = (task.get("expected_sha256") or {}).get(clip_id_for(task["video_id"], plan))
                if not check_clip(facts, plan.end_s - plan.start_s) and (expected is None or expected == digest):
                    st = final.stat()
                    mtime = st.st_mtime_ns if remote is None else None
                    row = _clip_row(task, plan, rel, st.st_size, facts, digest, mtime)
                    rows[clip_id_for(task["video_id"], plan)] = dict(row, **{KEPT: True})  # checked, not rewritten
                    if remote is not None:
                        final.unlink()
                    continue
            except Exception:  # noqa: BLE001 - any probe/decode error: the file is not trusted, redo it
                pass
            final.unlink()
            if remote is not None:
                remote.remove(rel)
        pending.append((plan, final))
    return rows, pending


@dataclass
class _SourceCut:
    """One source being cut, run after run: what each ffmpeg run needs, the rows so far, the media done."""

    task: dict
    cfg: PreprocessConfig
    src: Path
    remote: DatasetRoot | None
    progress: TaskProgress
    hw: HwPlan
    threads: int
    rows: dict[str, dict]
    done_s: float

    def cut(self, seek_s: int, run: list[tuple[ClipPlan, Path]]) -> None:
        """One ffmpeg run over up to ``max_clips_per_run`` clips; its failure becomes their error rows."""
        temps = [atomic.temp_path_for(final) for _, final in run]
        try:
            self._ffmpeg(seek_s, [p for p, _ in run], temps)
            for (plan, final), tmp in zip(run, temps):
                self._keep(plan, final, tmp)
            self.done_s += sum(p.end_s - p.start_s for p, _ in run)
            self.progress.update(self.done_s, self.progress.clips, force=True)
        except Exception as exc:  # noqa: BLE001 - becomes this run's error rows; the traceback goes to the item's log
            detail = failure_detail(exc)
            for plan, _ in run:
                self.rows.setdefault(clip_id_for(self.task["video_id"], plan), {**_failed_clip_row(self.task, plan, str(exc)), DETAIL: detail})
        finally:
            for tmp in temps:
                tmp.unlink(missing_ok=True)

    def _ffmpeg(self, seek_s: int, run_plans: list[ClipPlan], temps: list[Path]) -> None:
        src, cfg, threads, hw, progress = self.src, self.cfg, self.threads, self.hw, self.progress

        def report(line: str, before_s: float = self.done_s) -> None:
            m = _PTS_TIME.search(line)
            if m is None:
                return
            at_s = seek_s + float(m[1])  # the uncut branch's time: the position in the source
            into_s = sum(max(0.0, min(p.end_s, at_s) - p.start_s) for p in run_plans)  # this run's media cut so far
            cut = sum(1 for p in run_plans if p.end_s <= at_s)
            progress.update(before_s + into_s, progress.clips + cut)

        try:
            if progress.path:
                run_ffmpeg_lines(build_ffmpeg_args(src, run_plans, temps, cfg, threads, seek_s=seek_s, hw=hw, progress=True), report)
            else:
                run_ffmpeg(build_ffmpeg_args(src, run_plans, temps, cfg, threads, seek_s=seek_s, hw=hw))
        except FFmpegError:
            if hw.all_cpu:
                raise
            # e.g. a codec NVDEC cannot decode: this source runs on the CPU path
            run_ffmpeg(build_ffmpeg_args(src, run_plans, temps, cfg, threads, seek_s=seek_s))

    def _keep(self, plan: ClipPlan, final: Path, tmp: Path) -> None:
        """A clip ffmpeg wrote: checked, renamed into place (and published), or an error row."""
        task = self.task
        cid = clip_id_for(task["video_id"], plan)
        if not tmp.exists():
            self.rows[cid] = _failed_clip_row(task, plan, "ffmpeg wrote no output for this clip (source ends early?)")
            return
        try:
            facts = probe_clip(tmp)
            problems = check_clip(facts, plan.end_s - plan.start_s)
        except ProbeError as exc:
            problems = [str(exc)]
        if problems:
            self.rows[cid] = _failed_clip_row(task, plan, "invalid clip: " + "; ".join(problems))
            return
        atomic.commit(tmp, final)  # checked: renamed into place (never a partial clip under its name)
        st = final.stat()
        digest = file_sha256(final)
        mtime = st.st_mtime_ns if self.remote is None else None
        if self.remote is not None:
            self.remote.put(final, clip_rel(task, plan))
            final.unlink()
        self.rows[cid] = _clip_row(task, plan, clip_rel(task, plan), st.st_size, facts, digest, mtime)
        self.progress.clips += 1


def _preprocess(
    task: dict, cfg: PreprocessConfig, local_root: Path, remote: DatasetRoot | None, progress: TaskProgress | None = None
) -> list[dict]:
    """Clips into ``local_root`` (the dataset root, or scratch when ``remote``, a URL root, publishes them)."""
    src_ref = task["path"]
    src = fetch_to_local(src_ref, local_root / "source") if is_url(src_ref) else Path(src_ref)
    info = _probed(src)
    plans, beyond = _plans(task, cfg, info.duration_s)
    tail = [_failed_clip_row(task, p, f"source is {info.duration_s:.1f} s, shorter than the listed span") for p in beyond]
    if not plans:
        return tail
    out_dir = check_inside(local_root, local_root / "clips" / safe_name(task["channel"]) / task["video_id"])
    out_dir.mkdir(parents=True, exist_ok=True)
    check_inside(local_root, out_dir)  # again once it exists: no planted link on the way
    atomic.remove_stale_temps(out_dir)
    rows, pending = _reuse_valid_clips(task, plans, local_root, remote)
    progress = progress or TaskProgress(None)
    progress.clips = len(rows)  # clips already cut and still valid
    done_s = float(sum(p.end_s - p.start_s for p in plans if clip_id_for(task["video_id"], p) in rows))
    cut = _SourceCut(task, cfg, src, remote, progress, hw_plan(cfg.hwaccel), task.get("threads") or 1, rows, done_s)
    for seek_s, run in _runs(plans, pending, max(1, cfg.max_clips_per_run)):
        cut.cut(seek_s, run)
    return [rows[clip_id_for(task["video_id"], p)] for p in plans] + tail


def _error_rows(task: dict, error: str) -> list[dict]:
    """The source failed as a whole: one row under the video's id."""
    row = Clip(clip_id=task["video_id"], video_id=task["video_id"], channel=task["channel"], category=task["category"],
               path=None, status=FAILED, error=error)
    return [row.to_row()]


# the options that shape its outputs (recorded in the root; see output_params)
PARAMS = ("--only-listed", "--clip-seconds", "--keep-tail", "--crf", "--preset", "--audio-bitrate")
SPEC = SPECS["preprocess"].complete(
    params=PARAMS,
    manifest="clips",
    task_key="video_id",
    fn=preprocess_video,
    error_rows=_error_rows,
    media_seconds=media_seconds,
    item_label="videos",
    output_label="clips",
)


def tasks_from_videos(
    root: DatasetRoot, videos: pd.DataFrame, cfg: PreprocessConfig, workers: int, only_spans: dict | None = None
) -> list[dict]:
    threads = cfg.threads_per_job or max(1, default_workers() // max(1, workers))
    tasks = []
    for v in videos.to_dict("records"):
        where = next((p for p in (v.get("path"), v.get("source_path")) if isinstance(p, str) and p), None)
        if v.get("status") not in (DONE, FAILED) or not where:
            continue  # planned / not yet downloaded
        if not is_file_safe_id(str(v["video_id"])):
            raise UnsafePath(
                f"{root.manifest('videos')}: video_id {v['video_id']!r} is not a file-safe id (tampered manifest?): "
                "fix or delete that row"
            )
        if only_spans is not None and v["video_id"] not in only_spans:
            continue  # --only-listed: a video no list names
        root.abs(f"clips/{safe_name(v.get('channel') or 'unknown')}/{v['video_id']}")  # no link out of the root (exit 2)
        tasks.append(
            {
                "video_id": v["video_id"],
                "channel": v.get("channel") or "unknown",
                "category": v.get("category") or cfg.category,
                "path": source_location(root, where),
                **root.task_fields(),  # root_url set: workers publish clips there (they may be on other machines)
                "config": asdict(cfg),
                "threads": threads,
                # for the media-hours bar: the listed spans with --only-listed, else the whole source
                "duration_s": (
                    float(sum(end - start for start, end in only_spans[v["video_id"]])) if only_spans is not None
                    else float(v["duration_s"]) if pd.notna(v.get("duration_s")) else 0.0
                ),  # fmt: skip
                **({"only_spans": only_spans[v["video_id"]]} if only_spans is not None else {}),
            }
        )
    return tasks


MTIME_TOLERANCE_NS = 1000


def _clips_verified(root: DatasetRoot, verify: bool):
    """Done means verified: every done clip's file has its recorded size and (local roots) mtime;
    a clip whose size or mtime changed (a same-size swap included) sends its video back to the
    worker, which re-probes and re-hashes the clip against the recorded sha256 and redoes it when
    it differs.  ``--verify`` does that for every clip.  Rows without a recorded mtime (older roots,
    URL roots) are checked by size."""

    def check(task: dict, rows: pd.DataFrame) -> bool:
        if verify:
            return False
        recorded_mtime = rows["mtime_ns"] if "mtime_ns" in rows else pd.Series([None] * len(rows), index=rows.index)
        for rel, size, mtime in zip(rows["path"], rows["size_bytes"], recorded_mtime):
            if rel is None or (isinstance(rel, float) and pd.isna(rel)):
                continue
            if pd.isna(size):
                return False
            if root.url is None and mtime is not None and not pd.isna(mtime):
                try:
                    st = root.abs(rel).stat()
                except OSError:
                    return False
                # to the microsecond: a column with nulls reads back through float64 (256 ns steps at today's dates)
                if st.st_size != int(size) or abs(st.st_mtime_ns - float(mtime)) > MTIME_TOLERANCE_NS:
                    return False
            elif root.size(rel) != int(size):
                return False
        return True

    return check


def output_params(cfg: PreprocessConfig, only_listed: bool = False) -> dict:
    """The options that shape preprocess's outputs, under their CLI names (recorded in the root)."""
    return {
        "--only-listed": only_listed,
        "--clip-seconds": cfg.clip_seconds,
        "--keep-tail": cfg.keep_tail,
        "--crf": cfg.crf,
        "--preset": cfg.preset,
        "--audio-bitrate": cfg.audio_bitrate,
    }


def _register_inputs(root: DatasetRoot, sources: pd.DataFrame) -> pd.DataFrame:
    """``--input`` files into ``videos.parquet`` (one source, one id) and the rows of this run's sources."""
    known = root.read("videos")
    sources = keep_known_ids(sources, known, root)
    dropped = drop_duplicate_registrations(root, sources, known)
    if dropped:
        from realsync_build.core.ui import console

        console.print(f"preprocess: removed {len(dropped)} duplicate registration(s) of sources already registered "
                      f"under another id: {', '.join(dropped[:5])}", highlight=False, markup=False)  # fmt: skip
    videos = register_local_sources(root, sources)
    return videos[videos["video_id"].isin(set(sources["video_id"]))]


def run_preprocess(
    root: DatasetRoot,
    input_dir: Path | None = None,
    cfg: PreprocessConfig | None = None,
    options: RunOptions | None = None,
    only_listed: bool = False,
) -> StageReport:
    """Preprocess every source: ``input_dir`` files, else the videos manifest from ``fetch``.

    ``only_listed``: only the videos and clip spans the published lists name (recorded by
    ``fetch --from-list`` in ``manifests/listed_spans.json``), instead of every full clip."""
    only_spans = read_listed_spans(root) if only_listed else None  # written by fetch --from-list
    cfg = cfg or PreprocessConfig()
    options = options or RunOptions()
    if cfg.hwaccel not in (None, "", "none"):
        from realsync_build.core.ui import console

        for note in hw_plan(cfg.hwaccel).notes:  # one line per part that falls back (workers probe again where they run)
            console.print(note, soft_wrap=True, markup=False)
    skip = ("fetch",) if input_dir is not None else ()
    if input_dir is not None:
        sources = discover_sources(input_dir, cfg.category, cfg.category_map)
        if sources.empty:  # before the run is recorded: a mistake, not "0 done"
            raise NoSources(f"no media files under {input_dir} (expected one sub-folder per channel holding the videos)")
    with stage_run(root, SPEC, output_params(cfg, only_listed), overwrite=options.overwrite, skip_upstream=skip) as run:
        if input_dir is not None:
            videos = _register_inputs(root, sources)
        else:
            videos = root.read("videos", required=True, hint="run `realsync fetch` first, or pass --input DIR")
        workers = options.workers or default_workers()
        tasks = tasks_from_videos(root, videos, cfg, workers, only_spans)
        if not tasks:
            raise NothingToDo(nothing_to_cut(videos, only_spans))
        if tasks:
            clips = root.read("clips")
            if len(clips) and "sha256" in clips:
                done = clips[clips["status"] == DONE].dropna(subset=["sha256"])
                by_video = {vid: dict(zip(g["clip_id"], g["sha256"])) for vid, g in done.groupby("video_id")}
                for t in tasks:
                    t["expected_sha256"] = by_video.get(t["video_id"], {})
        # a cluster executor reserves as many CPUs per task as ffmpeg gets threads
        outcomes = ClipOutcomes()
        spec = SPEC.complete(resources=Resources(num_cpus=float(tasks[0]["threads"]) if tasks else 1.0),
                             verify=_clips_verified(root, options.verify), media_seconds=outcomes.media_seconds)
        if options.executor in ("local", "inline") and options.progress:
            # the bar moves per media second and per clip (the driver's per-video bar is off); its total
            # is the media of the sources that will run: not those done, or failed before without --retry-failed
            states = task_states(root.read("clips"), "video_id")
            skip_states = set() if options.verify else ({DONE} if options.retry_failed else {DONE, FAILED})
            expected = {t["video_id"] for t in tasks if states.get(t["video_id"]) not in skip_states}
            with MediaProgress(tasks, expected):
                report = run_stage(spec, root, tasks, replace(options, progress=False))
        else:  # ray: workers may be on other machines, the per-video bar
            report = run_stage(spec, root, tasks, options)
        if options.verify:
            report.verify = outcomes.as_verify()
        run.note(**report.counts())
    return report
