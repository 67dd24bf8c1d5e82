"""Reading and writing manifests (Parquet, schemas from :mod:`realsync_build.core.schema`).

Only the driver process writes manifests; writes are atomic, rows are sorted by
the manifest's key so the same content always gives the same file.
"""

from __future__ import annotations

import contextvars
import io
import json
import os
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from realsync_build.core import atomic
from realsync_build.core.errors import UserError
from realsync_build.core.schema import KEYS, SCHEMAS


class ManifestError(RuntimeError):
    """A manifest is missing, unreadable or does not match its schema."""


class MissingInput(ManifestError, UserError):
    """What a command reads was never made: "run `realsync X` first".  A usage error (exit 2),
    like every other "run X first" (:class:`~realsync_build.core.errors.StaleInput`), in every command."""

    exit_code = 2
# Set by ``core.state.stage_run`` while a recorded run writes: manifests written then carry
# RECORDED_KEY in their schema metadata, so a root whose stages.json went missing is told apart
# from an older or hand-made root (which never had one).
RECORDED_RUN: contextvars.ContextVar[bool] = contextvars.ContextVar("realsync_recorded_run", default=False)
RECORDED_KEY = b"realsync.recorded"


def is_recorded(fh) -> bool:
    """Whether the Parquet file open in ``fh`` was written by a recorded stage run (footer only)."""
    try:
        meta = pq.read_schema(fh).metadata or {}
    except Exception:  # noqa: BLE001 - a damaged file says nothing
        return False
    return meta.get(RECORDED_KEY) == b"1"


def empty(schema: pa.Schema) -> pd.DataFrame:
    return schema.empty_table().to_pandas()


def as_labels(value) -> list[str] | None:
    """A list-of-strings cell from any form a root holds: a list/array, a JSON list (old segments),
    ``"a;b;c"`` (old clips/annotations), ``""`` (no labels) or null."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return [str(v) for v in json.loads(text)]
        return [v for v in text.split(";") if v]
    return [str(v) for v in value]


def _is_labels(field: pa.Field) -> bool:
    return pa.types.is_list(field.type) and pa.types.is_string(field.type.value_type)


def conform(df: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """``df`` as a table of exactly ``schema``: a column the frame lacks becomes nulls (an optional
    value nobody set); a column the schema does not have raises :class:`ManifestError` (a misspelling,
    or a caller that forgot to drop its working columns)."""
    unknown = sorted(set(df.columns) - set(schema.names))
    if unknown:  # a misspelt column must not become a column of nulls
        raise ManifestError(f"unknown column(s) {unknown}: not in the manifest's schema ({', '.join(schema.names)})")
    if len(df) == 0:
        return schema.empty_table()  # an empty frame's columns may carry any dtype (float64 for a list column)
    df = df.copy()
    for field in schema:
        if field.name not in df.columns:
            df[field.name] = None
        elif _is_labels(field):
            # an object Series, also when empty: pandas makes ``[]`` a float64 column, which
            # pyarrow cannot convert to list<string> ("NumPyConverter doesn't implement ...")
            df[field.name] = pd.Series([as_labels(v) for v in df[field.name]], index=df.index, dtype=object)
    df = df[[f.name for f in schema]]
    return pa.Table.from_pandas(df, schema=schema, preserve_index=False)


def read_table(path: str | Path) -> pa.Table:
    """The Parquet file at ``path`` read whole through **one** open file handle (one snapshot of
    one inode), so a concurrent atomic rename by a writer can never mix two files (pyarrow opening
    the path twice could: "Page was smaller than expected").  A read that fails while the path was
    replaced in between is retried once on the new file; a file that still fails is damaged
    (:class:`ManifestError`, which says so and names the way out)."""
    path = Path(path)
    error: Exception | None = None
    for _attempt in range(2):
        try:
            with open(path, "rb") as fh:
                inode = os.fstat(fh.fileno()).st_ino
                data = fh.read()
        except FileNotFoundError as exc:
            raise ManifestError(f"{path} does not exist") from exc
        try:
            return pq.read_table(pa.BufferReader(data))
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a damaged file
            error = exc
        try:
            if os.stat(path).st_ino == inode:
                break  # the same file, unreadable: damaged, not torn
        except FileNotFoundError:
            break
    first = str(error).strip().splitlines()[0] if error is not None and str(error).strip() else type(error).__name__
    raise ManifestError(
        f"{path} is damaged: not a readable Parquet file ({first}), and no writer was replacing it; "
        "move it aside (or restore it) and rerun the stage that writes it"
    ) from error


def read(path: str | Path, schema: pa.Schema | None = None, *, required: bool = False, hint: str = "") -> pd.DataFrame:
    """Load a manifest as a DataFrame; a missing file is an empty frame unless ``required``."""
    path = Path(path)
    if not path.exists():
        if required:
            raise MissingInput(f"{path} does not exist{': ' + hint if hint else ''}")
        return empty(schema) if schema is not None else pd.DataFrame()
    table = read_table(path)
    if schema is not None:
        for f in schema:  # columns added later (schema.OPTIONAL): an older file reads as nulls
            if f.name not in table.column_names and (f.metadata or {}).get(b"optional") == b"1":
                table = table.append_column(pa.field(f.name, f.type), pa.nulls(table.num_rows, f.type))
        for f in schema:  # list columns an older realsync stored as strings
            if _is_labels(f) and f.name in table.column_names and pa.types.is_string(table.schema.field(f.name).type):
                old = table.column(f.name).to_pylist()
                table = table.set_column(table.column_names.index(f.name), f.name, pa.array([as_labels(v) for v in old], f.type))
        missing = [f.name for f in schema if f.name not in table.column_names]
        if missing:
            raise ManifestError(
                f"{path} lacks columns {missing}: it was written by an older realsync; rerun the stage that writes it"
            )
        table = table.select([f.name for f in schema]).cast(schema)
    return table.to_pandas()


def write(df: pd.DataFrame | Iterable[Mapping], path: str | Path, schema: pa.Schema, key: list[str] | None = None) -> Path:
    """Atomically write ``df`` to ``path`` with ``schema``, sorted by ``key`` when given."""
    if not isinstance(df, pd.DataFrame):
        df = pd.DataFrame(list(df))
    if key and len(df):
        df = df.sort_values(key, kind="mergesort").reset_index(drop=True)
    # Only realsync's own metadata: pandas' (its version, each column's dtype of the moment) would
    # make a no-op rerun change the file's bytes.
    table = conform(df, schema).replace_schema_metadata({RECORDED_KEY: b"1"} if RECORDED_RUN.get() else None)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    atomic.write_bytes(path, buf.getvalue())
    return Path(path)


def upsert(df: pd.DataFrame, rows: Iterable[Mapping], key: list[str]) -> pd.DataFrame:
    """``df`` with ``rows`` added; a row whose key already exists replaces the old one."""
    new = pd.DataFrame(list(rows))
    if new.empty:
        return df
    if df.empty:
        merged = new
    else:
        merged = pd.concat([df, new], ignore_index=True)
    return merged.drop_duplicates(subset=key, keep="last").reset_index(drop=True)


def read_named(root, name: str, *, required: bool = False, hint: str = "") -> pd.DataFrame:
    """Read manifest ``name`` (``"clips"``, ...) under a :class:`DatasetRoot`."""
    path = root.manifest(name)
    if getattr(root, "url", None):
        root.pull(path)  # a URL root: read the published copy
    return read(path, SCHEMAS[name], required=required, hint=hint)


def write_table_named(root, name: str, table: pa.Table) -> Path:
    """Write manifest ``name`` from an Arrow table in its schema's columns, as it is (the caller
    sorted it), atomically; a URL root publishes it.  For concatenated part files (no pandas)."""
    schema = SCHEMAS[name]
    unknown = sorted(set(table.column_names) - set(schema.names))
    if unknown:
        raise ManifestError(f"unknown column(s) {unknown}: not in the {name} schema ({', '.join(schema.names)})")
    table = table.select(schema.names).cast(schema)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    path = root.manifest(name)
    atomic.write_bytes(path, buf.getvalue())
    if getattr(root, "url", None):
        root.push(path)
    return path


def read_root_table(root, rel: str) -> pa.Table | None:
    """A root-relative Parquet file (a part file) as an Arrow table; None when it does not exist."""
    if not root.exists(rel):
        return None
    with root.open(rel) as fh:
        return pq.read_table(io.BytesIO(fh.read()))


def write_named(root, name: str, df) -> Path:
    path = write(df, root.manifest(name), SCHEMAS[name], KEYS.get(name))
    if getattr(root, "url", None):
        root.push(path)  # a URL root: publish it atomically
    return path
