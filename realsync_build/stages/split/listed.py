"""The published lists ``split --from-list`` adopts: each with its split (its role), its skip list and
its offset distribution, and the class a listed offset gets.

Roles, as the StreamSync code uses the lists (:data:`realsync_build.core.protocol.LIST_ROLE`): the
evaluation list is the test (realsync ``test``), the test list selects the model (realsync
``dev``, where ``train`` picks ``best.pt``).  ``--role selection|test`` (or ``--as dev|test``)
says otherwise.  Offsets: a ``normal`` list's lie on the 0.2 s grid (an off-grid one is an
error); a ``uniform`` list's are continuous, labelled as the StreamSync code labels them
(:func:`realsync_build.core.avformat.list_offset_class`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from realsync_build.core.adoption import AdoptError
from realsync_build.core.avformat import list_offset_class, offset_to_class
from realsync_build.core.protocol import (
    DEFAULT_SPLIT,
    ROLE_SPLIT,
    ProtocolError,
    check_distribution,
    list_distribution,
    list_kind,
    skip_list_candidates,
)


@dataclass
class ListInput:
    csv: Path
    split: str  # dev | test
    kind: str | None  # evaluation | test | train | None (name says neither)
    skip_list: Path | None = None
    distribution: str = "normal"  # normal (grid offsets) | uniform (continuous offsets)


def _per_list(values: list[str] | None, n: int, flag: str, allowed) -> list[str]:
    values = list(values or [])
    if values and len(values) not in (1, n):
        raise AdoptError(f"{flag}: give one value for all lists or one per --from-list ({n}), not {len(values)}")
    for v in values:
        if v not in allowed:
            raise AdoptError(f"{flag} must be {' or '.join(allowed)}, not {v!r}")
    return values * n if len(values) == 1 else values


def list_inputs(paths: list[Path], as_splits: list[str] | None = None, skip_lists: list[Path] | None = None,
                roles: list[str] | None = None, distribution: str | None = None) -> list[ListInput]:
    """Each ``--from-list`` with its split, skip list and offset distribution.

    The split: ``--as dev|test`` or ``--role selection|test`` (one for all lists, or one per
    list; not both), else the list's role in the reference (evaluation list -> test, test
    list -> dev, :data:`~realsync_build.core.protocol.DEFAULT_SPLIT`).
    """
    if as_splits and roles:
        raise AdoptError("give --as or --role, not both (--role selection is --as dev, --role test is --as test)")
    try:
        check_distribution(distribution)
    except ProtocolError as exc:
        raise AdoptError(str(exc)) from None
    chosen = _per_list(as_splits, len(paths), "--as", ("dev", "test"))
    if roles:
        chosen = [ROLE_SPLIT[r] for r in _per_list(roles, len(paths), "--role", tuple(ROLE_SPLIT))]
    out = []
    for i, p in enumerate(paths):
        p = Path(p)
        if not p.is_file():
            raise AdoptError(f"list not found: {p}")
        if p.suffix.lower() != ".csv":
            raise AdoptError(f"{p}: pass the .csv list (its .json must sit beside it)")
        kind = list_kind(p)
        split = chosen[i] if chosen else DEFAULT_SPLIT.get(kind or "")
        if split is None:
            raise AdoptError(f"{p}: the name says neither evaluation nor test: pass --role selection|test (or --as dev|test)")
        named = list_distribution(p)
        if distribution is not None and named is not None and named != distribution:
            raise AdoptError(f"{p.name} is a {named} list, but --distribution is {distribution}")
        skip = None
        if skip_lists is None:
            skip = next((c for c in skip_list_candidates(p, kind) if c.is_file()), None)
        out.append(ListInput(p, split, kind, skip, distribution or named or "normal"))
    splits = [li.split for li in out]
    if len(set(splits)) != len(splits):
        raise AdoptError(f"two lists go to the same split ({', '.join(splits)}): use --role (or --as) to give each its own")
    return out


def listed_class(offset_s: float, distribution: str, sid: str, source) -> int:
    """A listed offset's class: the grid's for a normal list (off-grid is refused), the StreamSync code's for a uniform one."""
    try:
        if distribution == "uniform":
            return list_offset_class(offset_s)
        return offset_to_class(offset_s)
    except ValueError as exc:
        hint = ": a list with continuous offsets (the uniform lists) needs --distribution uniform" if distribution == "normal" else ""
        raise AdoptError(f"{source}: segment {sid}: {exc}{hint}") from None
