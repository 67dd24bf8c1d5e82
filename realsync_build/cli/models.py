"""``realsync models list | download [NAME...] [--for COMMAND ...] | verify``: the model registry and its folder."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.table import Table

from realsync_build.cli.common import app, fail
from realsync_build.core.ui import console

models_app = typer.Typer(
    name="models",
    help=(
        "Pretrained models: list the registry, download weights, verify hashes.\n\n"
        "Folder: $REALSYNC_MODELS_DIR, else the user cache dir (see `realsync models list`). "
        "Layout: <dir>/<folder>/<file>, e.g. syncnet/syncnet_v2.model, blazeface/blazeface.pth."
    ),
    no_args_is_help=True,
)
app.add_typer(models_app, name="models")

NamesArg = Annotated[
    Optional[list[str]],
    typer.Argument(
        help="Registry names (see `realsync models list`) or pipeline names (sfd, blazeface, panns, panns-32k, yamnet, "
        "syncnet), several at once; default: all (or what --for needs).",
        show_default=False,
    ),
]
FOR_COMMANDS = ("annotate",)


def _names_of(names: Optional[list[str]]) -> list[str]:
    out: list[str] = []
    for n in names or []:
        for m in _names(n):
            if m not in out:
                out.append(m)
    return out


def _names(name: Optional[str]) -> list[str]:
    """Registry entries for NAME: a registry name, or a detector/tagger name the pipeline uses."""
    from realsync_build.models import factory, registry

    if name is None:
        return list(registry.REGISTRY)
    if name in registry.REGISTRY:
        return [name]
    if name in factory.REQUIRES:
        return list(factory.REQUIRES[name])
    fail(f"unknown model {name!r}; known: {', '.join(registry.REGISTRY)} (or {', '.join(n for n in factory.REQUIRES if n not in registry.REGISTRY)})")
    return []


@models_app.command("list")
def list_models(
    full: Annotated[bool, typer.Option("--full", help="Show whole hashes and URLs.")] = False,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON document on stdout instead of the table: {models_dir, models: [{name, kind, file, path, "
            "hash_kind, expected, licence, url, present, verified, status: yes|no|bad-hash|unrecorded}]} (docs/scripting.md).",
        ),
    ] = False,
) -> None:
    """Show each model file: name, file, expected hash and its kind, licence, and whether it is present.

    Hash kinds: sha256 (pinned), sha256-prefix (torch.hub file name), md5 (published by the
    author), recorded (sha256 recorded on first download). Presence is checked with the hash:
    "yes" = present and verified, "BAD HASH" = present but refused, "no" = missing.
    """
    from realsync_build.models import registry

    root = registry.models_dir()
    recorded = registry.read_recorded(root)
    if json_out:
        import json

        typer.echo(json.dumps(_models_json(root, recorded), indent=1))
        return
    table = Table(title=f"models in {root}", title_justify="left")
    for col in ("name", "kind", "file", "hash", "sha256 / digest", "licence", "present"):
        table.add_column(col, overflow="fold")
    if full:
        table.add_column("url", overflow="fold")
    for check in registry.check_all(root=root):
        mf = check.mf
        digest = registry.expected_text(mf, recorded).replace("(recorded on first download)", "(on download)")
        if not full and len(digest) > 16 and not digest.startswith("("):
            digest = digest[:12] + "…"
        present = "[green]yes[/green]" if check.ok else ("[red]BAD HASH[/red]" if check.present else "no")
        if check.ok and check.note:
            present = "[yellow]yes (unrecorded)[/yellow]"
        row = [check.entry.name, check.entry.kind, mf.rel, mf.hash_kind, digest, check.entry.licence, present]
        if full:
            row.append(mf.url)
        table.add_row(*row)
    # the table is the command's output: stdout, so it can be piped
    from rich.console import Console

    out = Console()
    if not out.is_terminal:
        out = Console(width=220 if full else 160)
    from realsync_build.core.ui import fit_table

    fit_table(table, out.width, {"sha256 / digest": "digest", "licence": "lic.", "present": "here"})  # a narrow terminal: fold, never crop
    out.print(table)


def _models_json(root, recorded) -> dict:
    from realsync_build.models import registry

    models = []
    for check in registry.check_all(root=root):
        mf = check.mf
        status = ("unrecorded" if check.note else "yes") if check.ok else ("bad-hash" if check.present else "no")
        models.append({
            "name": check.entry.name, "kind": check.entry.kind, "file": mf.rel, "path": str(root / mf.rel), "hash_kind": mf.hash_kind,
            "expected": None if registry.expected_text(mf, recorded).startswith("(") else registry.expected_text(mf, recorded), "licence": check.entry.licence, "url": mf.url,
            "present": bool(check.present), "verified": bool(check.ok), "status": status,
        })  # fmt: skip
    return {"models_dir": str(root), "models": models}


@models_app.command()
def download(
    names: NamesArg = None,
    for_command: Annotated[
        Optional[str],
        typer.Option("--for", help="Everything this command needs with the options below: annotate.", show_default=False),
    ] = None,
    face_detector: Annotated[str, typer.Option("--face-detector", help="With --for annotate: its --face-detector (sfd, blazeface, blazeface-back).")] = "sfd",
    events: Annotated[str, typer.Option("--events", help="With --for annotate: its --events (panns, panns-32k, yamnet).")] = "panns",
    force: Annotated[bool, typer.Option("--force", help="Download again even when a verified file is present (re-records a recorded hash).")] = False,
    timeout_s: Annotated[float, typer.Option("--timeout", min=1, help="Network timeout per request, seconds.")] = 60.0,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show download progress bars.")] = True,
) -> None:
    """Fetch model files from their official URLs into the models folder (atomic, hash-checked).

    realsync models download s3fd panns syncnet      several names at once
    realsync models download --for annotate --face-detector blazeface --events yamnet

    Files already present with the right hash are kept. A download whose hash does not match is discarded.
    Without NAME or --for, every model in the registry is fetched.
    """
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from realsync_build.models import factory, registry

    wanted = _names_of(names)
    if for_command is not None:
        if for_command not in FOR_COMMANDS:
            fail(f"--for {for_command!r}: use {', '.join(FOR_COMMANDS)}")
        if face_detector not in factory.FACE_DETECTORS:
            fail(f"--face-detector {face_detector!r}: use {', '.join(factory.FACE_DETECTORS)}")
        if events not in factory.EVENT_TAGGERS:
            fail(f"--events {events!r}: use {', '.join(factory.EVENT_TAGGERS)}")
        wanted += [n for n in factory.needed_for_annotate(face_detector, events) if n not in wanted]
    elif not wanted:
        wanted = _names(None)
    root = registry.models_dir()
    failed = ok = 0
    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=console, disable=not progress
    ) as bars:
        for n in registry.with_needs(wanted):
            entry = registry.get_entry(n)
            for mf in entry.files:
                task = bars.add_task(f"{n}: {mf.file}", total=None)

                def hook(done: int, total: int | None, task=task) -> None:
                    bars.update(task, completed=done, total=total)

                try:
                    path = registry.fetch_file(entry, mf, root, timeout_s=timeout_s, progress=hook, force=force)
                    bars.update(task, description=f"[green]ok[/green] {n}: {path}")
                    ok += 1
                except registry.DownloadError as exc:
                    failed += 1
                    bars.update(task, description=f"[red]failed[/red] {n}: {mf.file}")
                    console.print(f"[red]error:[/red] {exc}", highlight=False)
    style = "green" if not failed else "yellow"
    console.print(f"[{style}]models download: {ok} files ok, {failed} failed, in {root}[/{style}]", highlight=False)
    if failed:
        raise typer.Exit(1)


@models_app.command()
def verify(
    names: NamesArg = None,
    record: Annotated[bool, typer.Option("--record", help="Record the sha256 of present files that have no published hash and none recorded yet (files placed by hand).")] = False,
) -> None:
    """Check the hash of every present model file; exit 1 if any file has the wrong hash."""
    from realsync_build.models import registry

    root = registry.models_dir()
    bad = 0
    for check in registry.check_all(_names_of(names) or None, root):
        if record and check.present and check.ok and check.note and check.mf.hash_kind == registry.RECORDED:
            if registry.record_hash(root, check.mf.rel, check.sha256):
                check.note = f"sha256 {check.sha256[:16]}... recorded"
            else:
                check.note += f"; cannot record: {root} is read-only"
        label = f"{check.entry.name}: {check.path}"
        if not check.present:
            console.print(f"[dim]missing[/dim]  {label} (realsync models download {check.entry.name})", highlight=False)
        elif not check.ok:
            bad += 1
            console.print(f"[red]BAD[/red]      {label}: {check.note}", highlight=False)
        else:
            extra = f" ({check.note})" if check.note else ""
            console.print(f"[green]ok[/green]       {label} [{check.mf.hash_kind}]{extra}", highlight=False)
    if bad:
        raise typer.Exit(1)
