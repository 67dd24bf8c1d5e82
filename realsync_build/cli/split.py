from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from realsync_build.cli.common import DistributionOpt, OverwriteOpt, RootOpt, app, code_of, fail, root_of


@app.command()
def split(
    root: RootOpt = None,
    seed: Annotated[str, typer.Option("--seed", metavar="INT", help="Random seed (an integer): same inputs and seed give byte-identical outputs.")] = "0",
    ratios: Annotated[str, typer.Option("--ratios", help="train/dev/test shares of each channel's duration.")] = "90/5/5",
    exclude_suspect_sync: Annotated[
        bool, typer.Option("--exclude-suspect-sync/--no-exclude-suspect-sync", help="Leave out clips that annotate flagged as out of sync at the source.")
    ] = False,
    tolerance: Annotated[float, typer.Option("--tolerance", min=0.0, max=1.0, help="Allowed drift of a channel's shares from the ratios (at least its largest video's share).")] = 0.05,
    skip_empty_channels: Annotated[bool, typer.Option("--skip-empty-channels/--no-skip-empty-channels", help="Split without channels that have no usable clip instead of failing.")] = False,
    segment_sampling: Annotated[str, typer.Option("--segment-sampling", help="Evaluation segment starts: grid or random.")] = "grid",
    segment_start: Annotated[int, typer.Option("--segment-start", min=0, help="First grid start (s from the clip start).")] = 10,
    segment_stride: Annotated[int, typer.Option("--segment-stride", min=1, help="Grid step (s).")] = 10,
    segment_window: Annotated[float, typer.Option("--segment-window", min=0.04, help="Segment length (s).")] = 5.0,
    offset_sd: Annotated[float, typer.Option("--offset-sd", help="Sd (s) of the normal the non-zero offsets come from (truncated to +/-2 s).")] = 1.0,
    offset_zero_share: Annotated[float, typer.Option("--offset-zero-share", help="Share of segments with exactly 0 s offset.")] = 0.503,
    top_events: Annotated[int, typer.Option("--top-events", min=0, help="Audio event labels kept per segment.")] = 3,
    from_list: Annotated[
        Optional[list[Path]],
        typer.Option(
            "--from-list",
            metavar="LIST.csv|DIR",
            help="Adopt a published StreamSync list (.csv, its .json beside it) exactly instead of drawing a split; repeatable "
            "(e.g. the evaluation and the test list). A folder (the repository's data/) stands for its evaluation and test "
            "lists of --distribution. Its videos go to the split of its role, all others to train.",
        ),
    ] = None,
    role: Annotated[
        Optional[list[str]],
        typer.Option(
            "--role",
            metavar="selection|test",
            help="Role of the --from-list lists: selection (realsync's dev split, where train picks best.pt) or test "
            "(the split whose figures are reported). Default, as the StreamSync code uses them: the evaluation list is "
            "the test, the test list selects the model. One for all lists or one per list.",
        ),
    ] = None,
    as_split: Annotated[
        Optional[list[str]],
        typer.Option("--as", metavar="dev|test", help="The realsync split of the --from-list videos (dev = --role selection, test = --role test); one for all lists or one per list."),
    ] = None,
    distribution: Annotated[
        Optional[str],
        DistributionOpt("With --from-list: uniform offsets are labelled as the StreamSync code labels them; a folder stands for "
                        "that set's lists. Default: from the list's name, else normal (off-grid offsets are then an error)."),
    ] = None,
    protocol: Annotated[
        str,
        typer.Option("--protocol", metavar="paper|all", help="Which listed segments: paper (what the StreamSync loader evaluated: no broken variants, skip lists applied) or all."),
    ] = "paper",
    cap: Annotated[
        Optional[int],
        typer.Option("--cap", min=1, help="Keep the first N lines after the loader's seeded shuffle (the StreamSync loader: 2000, before its filters)."),
    ] = None,
    loader_seed: Annotated[int, typer.Option("--loader-seed", help="Seed of that shuffle (the StreamSync loader's default: 1337).")] = 1337,
    skip_list: Annotated[
        Optional[list[Path]],
        typer.Option("--skip-list", metavar="SKIP.txt", help="Skip list(s) to apply (default: the one published beside each list, if any); repeatable."),
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="With --from-list: exit 3 when listed segments are missing from the root.")] = False,
    overwrite: OverwriteOpt = False,
) -> None:
    """Split videos into train/dev/test (stratified per channel by duration) and draw the dev/test evaluation segments.

    Writes manifests/splits.parquet, the split column of manifests/clips.parquet and
    manifests/segments.parquet. Segments start on a grid (every 10 s from 10 s, as in the
    published RealSync list) or at random, last 5 s, and carry a fixed audio offset on the
    0.2 s grid within +/-2 s (defaults reproduce the published offset distribution) and the
    scenario (talking_head / voice_over / unscored / other: the majority over the span the evaluation streams through) from the annotations.
    Checks fail loudly (and nothing is written) if a video would land in two splits or a
    channel's shares drift beyond --tolerance.

    --from-list LIST.csv adopts a published StreamSync list instead: segment ids, starts and
    offsets exactly as listed (--protocol paper|all, --cap 2000 for the loader's cap). As in the
    StreamSync code, the evaluation list is the test (realsync test) and the test list selects
    the model (realsync dev), unless --role says otherwise; listed
    segments whose clip is not in the root are reported as missing per channel (video not
    fetched / clip not cut / clip failed). The protocol and skip lists go to manifests/adoption.json.
    """
    from realsync_build.core.manifest import ManifestError

    if from_list:
        _adopt(root, from_list, as_split, role, distribution, protocol, cap, loader_seed, skip_list, strict)
        return
    from realsync_build.core.segments import SegmentConfig
    from realsync_build.stages.split.run import SplitConfig, SplitError, parse_ratios, parse_seed, print_result, run_split

    try:
        cfg = SplitConfig(
            seed=parse_seed(seed),
            ratios=parse_ratios(ratios),
            exclude_suspect_sync=exclude_suspect_sync,
            tolerance=tolerance,
            skip_empty_channels=skip_empty_channels,
            segments=SegmentConfig(
                sampling=segment_sampling,
                start_s=segment_start,
                stride_s=segment_stride,
                window_s=segment_window,
                offset_sd=offset_sd,
                offset_zero_share=offset_zero_share,
                top_events=top_events,
            ),
        )
        cfg.segments.validate()
    except ValueError as exc:  # bad option values (SplitError is a ValueError)
        fail(str(exc), code=2)
    try:
        result = run_split(root_of(root, must_exist=True), cfg, overwrite=overwrite)
    except (SplitError, ManifestError) as exc:
        fail(str(exc), code=code_of(exc))
    print_result(result)


def _adopt(root, paths, as_split, roles, distribution, protocol, cap, seed, skip_lists, strict) -> None:
    from realsync_build.core.errors import EXIT_FAILED_ITEMS
    from realsync_build.core.manifest import ManifestError
    from realsync_build.stages.split.adopt import AdoptConfig, AdoptError, print_adoption, run_adopt
    from realsync_build.core.protocol import PROTOCOLS, ProtocolError, resolve_lists

    if protocol not in PROTOCOLS:
        fail(f"--protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}", code=2)
    try:
        paths = resolve_lists(paths, distribution)
    except ProtocolError as exc:
        fail(str(exc), code=2)
    for p in skip_lists or ():
        if not p.is_file():
            fail(f"skip list not found: {p}", code=2)
    cfg = AdoptConfig(protocol=protocol, cap=cap, seed=seed, skip_lists=tuple(skip_lists) if skip_lists else None, distribution=distribution)
    try:
        result = run_adopt(root_of(root), list(paths), cfg, as_split, roles)
    except AdoptError as exc:
        fail(str(exc), code=2)
    except ManifestError as exc:
        fail(str(exc), code=code_of(exc))
    print_adoption(result)
    if strict and result.n_missing:
        raise typer.Exit(EXIT_FAILED_ITEMS)
