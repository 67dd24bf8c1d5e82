from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from realsync_build.cli.common import (
    CategoryOpt,
    DistributionOpt,
    check_category,
    exit_if_failed,
    ExecutorOpt,
    ProgressOpt,
    RayAddressOpt,
    RetryOpt,
    RootOpt,
    StrictOpt,
    app,
    code_of,
    fail,
    root_of,
    run_options,
)


ChannelsOpt = Annotated[
    Optional[Path], typer.Option("--channels", help="Channel list (TOML: name, url, category, topic); default: the nine RealSync channels.")
]
ChannelOpt = Annotated[Optional[str], typer.Option("--channel", help="One channel's uploads URL instead of the list.")]
NameOpt = Annotated[Optional[str], typer.Option("--name", help="Label for --channel in paths and manifests (default: from its URL).")]
FromListOpt = Annotated[
    Optional[list[Path]],
    typer.Option(
        "--from-list",
        metavar="LIST.csv|DIR",
        help="Fetch exactly the videos published StreamSync lists (.csv) name, with their channels; no selection rules. "
        "Repeatable (e.g. the evaluation and the test list); a folder (the repository's data/) stands for its evaluation "
        "and test lists of --distribution. Records the clip spans they need for preprocess --only-listed.",
    ),
]
FetchDistributionOpt = Annotated[
    Optional[str], DistributionOpt("With --from-list: which lists a folder stands for (needed when it holds both); a file's name must agree.")
]
MinMinutesOpt = Annotated[float, typer.Option("--min-minutes", min=0, help="Keep videos at least this long (RealSync: 20).")]
MinHeightOpt = Annotated[int, typer.Option("--min-height", min=1, help="Keep videos available at least this tall (RealSync: 720).")]
MaxHeightOpt = Annotated[int, typer.Option("--max-height", min=1, help="Download at most this height.")]
MinKbpsOpt = Annotated[
    Optional[float],
    typer.Option("--min-kbps", min=0, help="Lowest total bitrate (kbit/s) kept; default 250 x (height/720)^2, i.e. 250 at 720p, 562.5 at 1080p."),
]
MaxKbpsOpt = Annotated[Optional[float], typer.Option("--max-kbps", min=0, help="Highest total bitrate kept; default 12000 x (height/720)^2.")]
HoursOpt = Annotated[
    float,
    typer.Option(
        "--hours-per-channel",
        min=0,
        help="Take kept videos per channel until this many hours; the default matches the paper (~100 h per "
        "channel, ~900 h for the nine channels; sources roughly 1 GB per video-hour at 720p, an estimate). "
        "0: every kept video.",
    ),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the per-channel order the hours budget follows.")]
MaxCandidatesOpt = Annotated[int, typer.Option("--max-candidates", min=1, help="List at most this many newest uploads per channel.")]
LimitRateOpt = Annotated[Optional[str], typer.Option("--limit-rate", help="Download rate cap per video in bytes/s, e.g. 500K or 4M.")]
ConcurrencyOpt = Annotated[
    int,
    typer.Option(
        "--concurrency",
        min=1,
        help="Videos downloaded at the same time. Not --workers: downloads are bound by the network and the "
        "site's rate limits, not by cores; 2 stays polite to YouTube.",
    ),
]
WorkersAliasOpt = Annotated[Optional[int], typer.Option("--workers", min=1, hidden=True, help="Deprecated: --concurrency.")]
CookiesOpt = Annotated[Optional[Path], typer.Option("--cookies", help="Netscape cookies.txt for yt-dlp (members-only or age-gated videos).")]
RetriesOpt = Annotated[int, typer.Option("--retries", min=0, help="Retries per request / fragment, with exponential backoff.")]
KeepPartialOpt = Annotated[bool, typer.Option("--keep-partial", help="Keep .part files of videos given up on (default: removed).")]
ExtractorOpt = Annotated[
    Optional[list[str]],
    typer.Option("--extractor", help="Extra yt-dlp extractor class 'module:Class' tried before yt-dlp's own (site plug-ins); repeatable."),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Write the plan (planned rows in videos.parquet) and print videos and hours per channel; download nothing.")
]
JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json",
        help="With --dry-run: print the plan as one JSON document on stdout: {dry_run, from_list, manifest, channels: [{channel, "
        "category, videos, hours, found, rejected, not_examined, clip_spans, hours_needed, error, warnings}], total: {videos, "
        "hours, clip_spans, hours_needed}, videos: [{video_id, channel, title, url, duration_s, listed_spans}]}; null where not "
        "known yet (docs/scripting.md).",
    ),
]


def _check_options(sources: list, category: str, name: str | None, min_height: int, max_height: int, extractor, limit_rate,
                   cookies, json_out: bool, dry_run: bool) -> None:
    """One line (exit 2) for options that cannot work together, before anything is touched."""
    from realsync_build.stages.fetch.ydl import load_extractor, parse_rate

    if len(sources) > 1:
        fail("give one of --channels, --channel or --from-list")
    check_category(category)
    if name is not None:
        from realsync_build.core.names import check_channel

        check_channel(name, "--name")  # a label that reads as an option or a path (-rf, ../x): one line, exit 2
    if json_out and not dry_run:
        fail("--json prints the plan: give it with --dry-run")
    if min_height > max_height:
        fail(f"--min-height {min_height} is above --max-height {max_height}")
    try:
        for spec in extractor or ():
            load_extractor(spec)
        parse_rate(limit_rate)
    except (ValueError, ImportError, AttributeError) as exc:
        fail(str(exc))
    if cookies is not None and not cookies.is_file():
        fail(f"cookie file not found: {cookies}")


def _channel_list(channels: Path | None, channel: str | None, name: str | None, category: str):
    """The channels to list: one ``--channel``, or the ``--channels`` file (default: the shipped list)."""
    from realsync_build.core.channels import Channel, load_channels
    from realsync_build.core.root import safe_name
    from realsync_build.stages.fetch.discover import channel_name_from_url

    if channel is not None:
        label = safe_name(name) if name else channel_name_from_url(channel) or "channel"
        return [Channel(name=label, url=channel, category=category)]
    try:
        return load_channels(channels)
    except (FileNotFoundError, ValueError, OSError) as exc:
        fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - e.g. a TOML syntax error
        fail(f"cannot read {channels}: {exc}")


def _lists(from_list, distribution: str | None):
    """The published list files ``--from-list`` names (a folder: its lists of ``--distribution``)."""
    if distribution is not None and from_list is None:
        fail("--distribution goes with --from-list (it picks which published lists)")
    if from_list is None:
        return None
    from realsync_build.core.protocol import ProtocolError, resolve_lists

    try:
        return resolve_lists(from_list, distribution)
    except ProtocolError as exc:
        fail(str(exc))


def _run(ds, cfg, chans, from_list, dry_run: bool, opts):
    """The library call; its refusals (a bad list: exit 2; a missing file, a damaged manifest: exit 1) are one line."""
    from realsync_build.core.lists import ListFormatError
    from realsync_build.core.manifest import ManifestError
    from realsync_build.stages.fetch import run_fetch

    try:
        return run_fetch(ds, cfg, channels=chans, from_list=from_list, dry_run=dry_run, options=opts)
    except (ListFormatError, FileNotFoundError, ManifestError, RuntimeError, ValueError) as exc:
        fail(str(exc), code=code_of(exc))  # a bad list (ListFormatError) is the user's: 2


@app.command()
def fetch(
    root: RootOpt = None,
    channels: ChannelsOpt = None,
    channel: ChannelOpt = None,
    name: NameOpt = None,
    category: Annotated[str, CategoryOpt(help="Category of --channel")] = "unknown",
    from_list: FromListOpt = None,
    distribution: FetchDistributionOpt = None,
    min_minutes: MinMinutesOpt = 20.0,
    min_height: MinHeightOpt = 720,
    max_height: MaxHeightOpt = 1080,
    min_kbps: MinKbpsOpt = None,
    max_kbps: MaxKbpsOpt = None,
    hours_per_channel: HoursOpt = 100.0,
    seed: SeedOpt = 0,
    max_candidates: MaxCandidatesOpt = 2000,
    limit_rate: LimitRateOpt = None,
    concurrency: ConcurrencyOpt = 2,
    workers_alias: WorkersAliasOpt = None,
    cookies: CookiesOpt = None,
    retries: RetriesOpt = 5,
    keep_partial: KeepPartialOpt = False,
    extractor: ExtractorOpt = None,
    dry_run: DryRunOpt = False,
    json_out: JsonOpt = False,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = None,
    retry_failed: RetryOpt = False,
    strict: StrictOpt = False,
    progress: ProgressOpt = True,
) -> None:
    """Fetch channel videos with yt-dlp into raw/{channel}/{video_id}.{ext} and manifests/videos.parquet.

    Selection (channels): at least --min-minutes long, available at --min-height or more, not
    live/upcoming/members-only, total bitrate in the window for its height; then --hours-per-channel
    per channel in a --seed order.  --from-list fetches exactly the videos a published list names.
    Downloads resume (.part files, yt-dlp's download archive raw/download-archive.txt); a failed
    video gets an error row and the run goes on; --retry-failed re-attempts only those.
    """
    from realsync_build.core.ui import console
    from realsync_build.stages.fetch import FetchConfig

    if workers_alias is not None:  # the old spelling, for one release
        console.print("[yellow]warning:[/yellow] fetch --workers is deprecated: use --concurrency (downloads at the same time)", highlight=False)
    concurrency = workers_alias if workers_alias is not None else concurrency
    _check_options([x for x in (channels, channel, from_list or None) if x is not None], category, name, min_height, max_height,
                   extractor, limit_rate, cookies, json_out, dry_run)  # fmt: skip
    from_list = _lists(list(from_list) if from_list else None, distribution)
    cfg = FetchConfig(
        min_minutes=min_minutes, min_height=min_height, max_height=max_height, min_kbps=min_kbps, max_kbps=max_kbps,
        hours_per_channel=hours_per_channel or None,  # 0: no budget (None)
        seed=seed, max_candidates=max_candidates, limit_rate=limit_rate, cookies=str(cookies) if cookies else None,
        retries=retries, keep_partial=keep_partial, extractors=tuple(extractor or ()),
    )  # fmt: skip
    ds = root_of(root)
    chans = _channel_list(channels, channel, name, category) if from_list is None else None
    report = _run(ds, cfg, chans, from_list, dry_run, run_options(concurrency, executor, ray_address, retry_failed, strict, progress))
    _show(ds, report, dry_run, json_out)
    exit_if_failed(not report.ok, strict)


def _show(ds, report, dry_run: bool, json_out: bool) -> None:
    """The plan or the run's tables (``--json``: one document on stdout); a run that selected nothing is one line, exit 2."""
    import json

    from realsync_build.core.ui import console
    from realsync_build.stages.fetch import print_fetch_report
    from realsync_build.stages.fetch.report import plan_dict

    if json_out:
        typer.echo(json.dumps(plan_dict(report, str(ds.manifest("videos"))), indent=1))
    else:
        print_fetch_report(report)
    if dry_run:
        console.print(f"plan written to {ds.manifest('videos')}", highlight=False)
    elif not report.planned:  # zero items: one line, exit 2
        found = sum(t.found for t in report.tallies.values())
        why = f"{found} listed, none kept by the selection rules (see the table)" if found else "nothing listed"
        fail(f"0 videos selected ({why}); nothing to download")
