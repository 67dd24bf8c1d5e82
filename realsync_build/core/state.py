"""What each stage recorded about its last run: parameters, version, completion, inputs.

One JSON record per stage, all in ``stages.json`` at the root::

    {"stage", "status": running | complete | invalidated, "params": {"--clip-seconds": 300, ...},
     "realsync_version", "started_at", "completed_at", "fingerprint", "inputs": {upstream: fingerprint},
     "invalidated_by", "counts": {...}}

* ``params`` are only the options that shape the stage's outputs, under their CLI
  names; options that do not (``--workers``, ``--progress``, devices, batch sizes)
  are never recorded, so they never block a rerun.
* ``status`` is ``running`` from the moment a run starts until its manifests are
  all written; the record is rewritten as ``complete`` last (the completion
  record).  A run killed in between leaves ``running``: downstream stages refuse
  its outputs and name the command to finish it.
* ``fingerprint`` hashes the content of the stage's manifests; a downstream
  stage stores the fingerprints it consumed under ``inputs``, so a later change
  upstream makes it stale (``realsync status`` shows it, its consumers refuse it).
* ``--overwrite`` clears the stage's outputs and marks every downstream record
  ``invalidated``.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import signal
import time
from dataclasses import dataclass
from typing import Any, Iterator

import pandas as pd

from realsync_build import __version__
from realsync_build.core.errors import ParamsChanged, StaleInput, UserError
from realsync_build.core.root import DatasetRoot
from realsync_build.core.stage import StageSpec

RECORDS = "stages.json"  # at the root, one record per stage
RUNNING, COMPLETE, INVALIDATED = "running", "complete", "invalidated"

# Every step's contract, in pipeline order: the one place it is declared.  A stage completes its
# entry (StageSpec.complete: recorded parameters, verification, per-item work); core reads the graph
# here without importing a stage.
SPECS: dict[str, StageSpec] = {
    s.name: s
    for s in (
        StageSpec("fetch", command="realsync fetch", outputs=("videos",)),
        StageSpec("preprocess", command="realsync preprocess", inputs=("fetch",), outputs=("clips",), output_dirs=("clips",)),
        StageSpec("annotate", command="realsync annotate", inputs=("preprocess",),
                  outputs=("annotations", "intervals", "events", "tracks"), output_dirs=("annotations",)),
        StageSpec("split", command="realsync split", inputs=("preprocess", "annotate"), outputs=("splits", "segments", "clip_splits")),
        StageSpec("export", command="realsync export webdataset", inputs=("split", "annotate"), outputs=("shards",), output_dirs=("shards",)),
        StageSpec("train", command="realsync train", inputs=("export",)),
    )
}  # fmt: skip

# Views of the declarations, in pipeline order.
STAGES = tuple(n for n in SPECS if n != "train")  # the stages that write the root
UPSTREAM: dict[str, tuple[str, ...]] = {n: s.inputs for n, s in SPECS.items()}
OUTPUTS: dict[str, tuple[str, ...]] = {n: s.outputs for n, s in SPECS.items()}
OUTPUT_DIRS: dict[str, tuple[str, ...]] = {n: s.output_dirs for n, s in SPECS.items()}
COMMANDS: dict[str, str] = {n: s.command for n, s in SPECS.items()}


def downstream(stage: str) -> list[str]:
    """Every stage that consumes ``stage``'s outputs, directly or not (pipeline order)."""
    out: list[str] = []
    for s in STAGES:
        if s != stage and any(u == stage or u in out for u in UPSTREAM.get(s, ())):
            out.append(s)
    return out


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class RecordsLost(UserError):
    """``stages.json`` is damaged, or missing from a root whose manifests recorded runs wrote:
    nothing can be told complete or fresh, so nothing is (exit 2, with the way out)."""


# Inside ``stage_run(..., overwrite=True)``: the stage is rebuilt from scratch, so lost records are
# started anew (upstream stages are then accepted as an older root's are, downstream ones invalidated).
_REBUILDING: contextvars.ContextVar[bool] = contextvars.ContextVar("realsync_rebuilding", default=False)

_WAY_OUT = (
    "restore it from a backup, or rebuild with --overwrite from the first stage you do not trust "
    "(`realsync preprocess --overwrite` rebuilds everything; the stages after the one rebuilt are marked invalid)"
)


def _recorded_manifests(root: DatasetRoot) -> list[str]:
    """Manifests written by a recorded stage run (their footer says so; see ``manifest.RECORDED_RUN``)."""
    from realsync_build.core.manifest import is_recorded

    out = []
    for rel in root.ls("manifests", "*.parquet"):
        try:
            with root.open(rel) as fh:
                if is_recorded(fh):
                    out.append(rel)
        except OSError:
            continue
    return out


def load_all(root: DatasetRoot) -> dict[str, dict]:
    """Every stage's record (``stages.json`` at the root); empty when none ran yet (or an older or
    hand-made root that never had records).  A damaged ``stages.json``, or a missing one beside
    manifests that recorded runs wrote, is :class:`RecordsLost`: a root whose records are lost is
    never "complete and fresh"."""
    path = root.root / RECORDS
    if not root.exists(RECORDS):
        if not _REBUILDING.get():
            written = _recorded_manifests(root)
            if written:
                raise RecordsLost(
                    f"{path} is missing, but {len(written)} manifest(s) here were written by recorded runs "
                    f"({', '.join(r.rsplit('/', 1)[-1] for r in written[:3])}): whether each stage completed, and "
                    f"whether its inputs are current, is unknown; {_WAY_OUT}"
                )
        return {}
    try:
        with root.open(RECORDS) as fh:
            data = json.loads(fh.read())
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise ValueError("not an object of per-stage records")
    except (OSError, ValueError) as exc:
        if _REBUILDING.get():
            return {}
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RecordsLost(f"{path} is damaged ({detail}): no stage's completion or staleness can be checked; {_WAY_OUT}") from None
    return data


def load(root: DatasetRoot, stage: str) -> dict | None:
    """The stage's record, or None when it never ran through the recorded path."""
    return load_all(root).get(stage)


def save(root: DatasetRoot, stage: str, record: dict | None) -> None:
    """Replace (None: remove) one stage's record; the file is rewritten atomically."""
    from realsync_build.core import atomic

    records = load_all(root)
    if record is None:
        records.pop(stage, None)
    else:
        records[stage] = record
    path = root.inside(root.root / RECORDS)
    if _REBUILDING.get() and path.exists():
        try:
            json.loads(path.read_text())
        except (OSError, ValueError):  # the damaged file is kept beside, never overwritten silently
            os.replace(path, path.with_name(f"{RECORDS}.damaged-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"))
    atomic.write_text(path, json.dumps(records, indent=1, sort_keys=True, default=str) + "\n")
    if root.url is not None:
        root.put(path, RECORDS)


# Columns that say when a file was last checked, not what it holds: a clip re-verified after a copy
# of the root (new mtimes, same bytes) does not make the stages built on it stale.
VOLATILE = ("mtime_ns",)


def fingerprint(root: DatasetRoot, stage: str) -> str | None:
    """sha256 over the content of ``stage``'s manifests (None when it wrote none)."""
    h = hashlib.sha256()
    any_found = False
    for name in OUTPUTS.get(stage, ()):
        if not root.has(name):
            continue
        try:
            df = root.read(name)
        except Exception:  # noqa: BLE001 - an unreadable manifest has no fingerprint
            return "unreadable"
        any_found = True
        h.update(name.encode())
        df = df.drop(columns=[c for c in VOLATILE if c in df.columns])
        h.update(pd.util.hash_pandas_object(df.astype(str), index=False).to_numpy().tobytes())
    return h.hexdigest()[:16] if any_found else None


def param_diff(old: dict, new: dict) -> list[tuple[str, Any, Any]]:
    keys = sorted(set(old) | set(new))
    norm = lambda v: json.loads(json.dumps(v, default=str))  # noqa: E731 - tuples vs lists, floats vs ints
    return [(k, old.get(k), new.get(k)) for k in keys if norm(old.get(k)) != norm(new.get(k))]


def stale_reason(root: DatasetRoot, stage: str, record: dict | None = None) -> str | None:
    """Why ``stage``'s outputs cannot be trusted by its consumers, or None when they can."""
    rec = record if record is not None else load(root, stage)
    if rec is None:
        return None
    if rec.get("status") == RUNNING:
        return f"its last run did not complete (started {rec.get('started_at')})"
    if rec.get("status") == INVALIDATED:
        return f"it was invalidated by `{rec.get('invalidated_by')}`"
    for u in UPSTREAM.get(stage, ()):
        urec = load(root, u)
        if urec is None:
            continue
        if urec.get("status") != COMPLETE:
            return f"{u} has not completed since"
        if rec.get("inputs", {}).get(u) != urec.get("fingerprint"):
            return f"{u} changed after it ran"
    return None


def blocker(root: DatasetRoot, stage: str) -> tuple[str, str] | None:
    """``(stage to run, why)`` when ``stage``'s outputs are not usable, looking upstream first so
    the command named is the one that fixes it; None when they are usable (or were never recorded)."""
    rec = load(root, stage)
    if rec is None:
        return None
    for u in UPSTREAM.get(stage, ()):
        found = blocker(root, u)
        if found:
            return found
    reason = stale_reason(root, stage, rec)
    return (stage, reason) if reason else None


def check_inputs(root: DatasetRoot, stage: str, skip: tuple[str, ...] = ()) -> None:
    """Refuse (:class:`StaleInput`) when an upstream stage did not complete or is itself stale."""
    for u in UPSTREAM.get(stage, ()):
        if u in skip:
            continue
        found = blocker(root, u)
        if found:
            culprit, reason = found
            where = reason if culprit == u else f"{culprit}: {reason}"
            raise StaleInput(f"{stage}: the {u} outputs are not usable ({where}): run `{COMMANDS[culprit]}` first")


def check_params(root: DatasetRoot, stage: str, params: dict, record: dict | None) -> None:
    if not record or record.get("status") == INVALIDATED or not record.get("params"):
        return
    diff = param_diff(record["params"], params)
    if diff:
        from realsync_build.core.params import change_text  # the same flags status and the report print

        changes = ", ".join(change_text(k, a, b) for k, a, b in diff)
        later = downstream(stage)
        also = f" and invalidate {', '.join(later)}" if later else ""
        raise ParamsChanged(
            f"{stage}: this root was built with other parameters ({changes}): rerun with --overwrite to rebuild "
            f"{stage}{also}, or use a new --root"
        )


def clear_outputs(root: DatasetRoot, stage: str) -> None:
    """Delete ``stage``'s manifests and output folders."""
    for name in OUTPUTS.get(stage, ()):
        root.remove(f"manifests/{name}.parquet")
    for d in OUTPUT_DIRS.get(stage, ()):
        root.remove(d)
    root.remove(f"logs/{stage}")  # its per-item logs (core.itemlog) describe outputs that are gone


def invalidate_downstream(root: DatasetRoot, stage: str, why: str) -> list[str]:
    """Mark every downstream stage ``invalidated`` (one whose outputs exist without a record, in an
    older root or one whose records were lost, gets an invalidated record too)."""
    hit = []
    for s in downstream(stage):
        rec = load(root, s)
        if rec is None and any(root.has(n) for n in OUTPUTS.get(s, ())):
            rec = {"stage": s, "status": None, "params": {}, "realsync_version": __version__, "started_at": None,
                   "completed_at": None, "fingerprint": None, "inputs": {}, "counts": {}}  # fmt: skip
        if rec is not None and rec.get("status") != INVALIDATED:
            rec.update(status=INVALIDATED, invalidated_by=why, invalidated_at=_now())
            save(root, s, rec)
            hit.append(s)
    return hit


KILL_ENV = "REALSYNC_KILL_AT"


def fault_point(name: str) -> None:
    """Fault injection for the test suite: ``$REALSYNC_KILL_AT=name`` kills this process here with
    SIGKILL (as ``kill -9`` would), e.g. ``split:before-complete``.  Unset, it does nothing."""
    if os.environ.get(KILL_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class StageRun:
    root: DatasetRoot
    stage: str
    params: dict
    record: dict
    counts: dict

    def note(self, **counts: Any) -> None:
        """Figures for ``realsync status`` (done/failed counts, hours)."""
        self.counts.update(counts)


def check_declared(spec: StageSpec, params: dict) -> None:
    """A stage records only the parameters its declaration names (a programming error otherwise)."""
    if spec.params is None:
        return
    undeclared = sorted(set(params) - set(spec.params))
    if undeclared:
        raise ValueError(f"{spec.name} records {undeclared}, which its StageSpec does not declare (params={list(spec.params)})")


@contextlib.contextmanager
def stage_run(
    root: DatasetRoot,
    stage: str | StageSpec,
    params: dict,
    *,
    overwrite: bool = False,
    guard_params: bool = True,
    check_upstream: bool = True,
    skip_upstream: tuple[str, ...] = (),
    lock: bool = True,
) -> Iterator[StageRun]:
    """The contract around one run of ``stage`` (its name, or its completed :class:`StageSpec`,
    whose declared parameters ``params`` must stay within): lock, upstream check, parameter check,
    ``running`` record, the work (the block), then the completion record, written last."""
    from realsync_build.core.lock import root_lock
    from realsync_build.core.manifest import RECORDED_RUN

    if isinstance(stage, StageSpec):
        check_declared(stage, params)
        stage = stage.name

    ctx = root_lock(root.root, stage) if lock else contextlib.nullcontext()
    rebuilding = _REBUILDING.set(bool(overwrite))
    recorded = RECORDED_RUN.set(True)
    try:
        with ctx:
            yield from _stage_run(root, stage, params, overwrite, guard_params, check_upstream, skip_upstream)
    finally:
        RECORDED_RUN.reset(recorded)
        _REBUILDING.reset(rebuilding)


def _stage_run(root: DatasetRoot, stage: str, params: dict, overwrite: bool, guard_params: bool, check_upstream: bool,
               skip_upstream: tuple[str, ...]) -> Iterator[StageRun]:
    """The body of :func:`stage_run`, under the lock."""
    if check_upstream:
        check_inputs(root, stage, skip_upstream)
    prev = load(root, stage)
    if guard_params and not overwrite:
        check_params(root, stage, params, prev)
    if overwrite or (prev or {}).get("status") == INVALIDATED:
        clear_outputs(root, stage)
        invalidate_downstream(root, stage, f"{COMMANDS[stage]} --overwrite" if overwrite else f"{stage} rebuild")
    record = {
        "stage": stage,
        "status": RUNNING,
        "params": params,
        "realsync_version": __version__,
        "started_at": _now(),
        "completed_at": None,
        "fingerprint": (prev or {}).get("fingerprint"),
        "inputs": {u: (load(root, u) or {}).get("fingerprint") for u in UPSTREAM.get(stage, ())},
        "counts": {},
    }
    before = fingerprint(root, stage)
    save(root, stage, record)
    fault_point(f"{stage}:started")
    run = StageRun(root, stage, params, record, record["counts"])
    try:
        yield run
    except Exception:
        # a refusal or error that changed no output (e.g. split's checks fail before it writes):
        # the previous record still describes the root.  Otherwise ``running`` stays: incomplete.
        if fingerprint(root, stage) == before:
            save(root, stage, prev)
        raise
    fault_point(f"{stage}:before-complete")
    record.update(status=COMPLETE, completed_at=_now(), fingerprint=fingerprint(root, stage))
    save(root, stage, record)
