from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from realsync_build.cli.common import (
    CategoryOpt,
    DryRunOpt,
    dry_root,
    print_plan,
    check_category,
    ExecutorOpt,
    OverwriteOpt,
    VerifyOpt,
    ProgressOpt,
    RayAddressOpt,
    RetryOpt,
    RootOpt,
    StrictOpt,
    WorkersOpt,
    app,
    code_of,
    fail,
    finish,
    root_of,
    run_options,
)
from realsync_build.core.manifest import ManifestError


X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")


@app.command()
def preprocess(
    root: RootOpt = None,
    input: Annotated[
        Optional[Path],
        typer.Option("--input", help="Folder of media files (channel = sub-folder name) instead of the videos manifest from fetch."),
    ] = None,
    clip_seconds: Annotated[int, typer.Option("--clip-seconds", min=1, help="Clip length in seconds (RealSync: 300).")] = 300,
    keep_tail: Annotated[bool, typer.Option("--keep-tail/--no-keep-tail", help="Keep a last clip shorter than --clip-seconds.")] = False,
    crf: Annotated[int, typer.Option("--crf", min=0, max=51, help="x264 CRF; 18 is visually transparent at 256 px (StreamSync's scripts used 10).")] = 18,
    preset: Annotated[str, typer.Option("--preset", help="x264 preset.")] = "veryfast",
    audio_bitrate: Annotated[str, typer.Option("--audio-bitrate", help="AAC-LC bitrate of the clips' 16 kHz mono audio, 16k to 320k.")] = "64k",
    hwaccel: Annotated[str, typer.Option("--hwaccel", help="none, or cuda: decode and scale on the GPU (NVDEC, scale_cuda) and encode with h264_nvenc where present; each part falls back to the CPU alone, with one line saying which and why.")] = "none",
    category: Annotated[str, CategoryOpt(help="Category of --input channels that are not among the known channels (manifests/channels.toml)")] = "unknown",
    only_listed: Annotated[
        bool,
        typer.Option("--only-listed/--no-only-listed", help="Cut only the clip spans the published lists name (recorded by fetch --from-list), not every 300 s clip."),
    ] = False,
    workers: WorkersOpt = None,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = None,
    retry_failed: RetryOpt = False,
    strict: StrictOpt = False,
    progress: ProgressOpt = True,
    overwrite: OverwriteOpt = False,
    verify: VerifyOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Transcode sources to H.264 25 fps (shorter side 256 px) + AAC-LC mono 16 kHz, cut into clips.

    Writes clips/{channel}/{video_id}/{video_id}_{start}_{end}.mp4 and manifests/clips.parquet.
    Re-running skips finished clips; failed videos are skipped unless --retry-failed.
    """
    from realsync_build.stages.preprocess import NoSources, PreprocessConfig, run_preprocess

    from realsync_build.media.hwaccel import HWACCELS

    if hwaccel not in HWACCELS:
        fail(f"--hwaccel must be one of {', '.join(HWACCELS)}, not {hwaccel!r}", code=2)
    check_category(category)
    if preset not in X264_PRESETS:
        fail(f"--preset {preset!r}: use one of {', '.join(X264_PRESETS)}")
    if input is not None and not input.is_dir():
        fail(f"input folder not found: {input}")
    ds = dry_root(root, must_exist=input is None) if dry_run else root_of(root, must_exist=input is None)
    cfg = PreprocessConfig(
        clip_seconds=clip_seconds, keep_tail=keep_tail, crf=crf, preset=preset, audio_bitrate=audio_bitrate, category=category, hwaccel=hwaccel
    )
    opts = run_options(workers, executor, ray_address, retry_failed, strict, progress, overwrite=overwrite, verify=verify)
    if dry_run:
        from realsync_build.stages.preprocess.plan import plan_preprocess

        try:
            print_plan(plan_preprocess(ds, input_dir=input, cfg=cfg, options=opts, only_listed=only_listed))
        except NoSources as exc:
            fail(str(exc), code=2)
        except (ManifestError, FileNotFoundError) as exc:
            fail(str(exc), code=code_of(exc))
        return
    try:
        report = run_preprocess(ds, input_dir=input, cfg=cfg, options=opts, only_listed=only_listed)
    except NoSources as exc:
        fail(str(exc), code=2)
    except (ManifestError, FileNotFoundError, RuntimeError) as exc:
        fail(str(exc), code=code_of(exc))
    finish(report, strict)
