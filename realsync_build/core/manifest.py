"""Reading and writing manifests (Parquet, schemas from :mod:`realsync_build.core.schema`).

Only the driver process writes manifests; writes are atomic, rows are sorted by
the manifest's key so the same content always gives the same file.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from realsync_build.core import atomic
from realsync_build.core.schema import KEYS, SCHEMAS


class ManifestError(RuntimeError):
    """A manifest is missing, unreadable or does not match its schema."""


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
    df = df.copy()
    for field in schema:
        if field.name not in df.columns:
            df[field.name] = None
        elif _is_labels(field):
            df[field.name] = pd.Series([as_labels(v) for v in df[field.name]], index=df.index, dtype=object)  # also when empty
    df = df[[f.name for f in schema]]
    return pa.Table.from_pandas(df, schema=schema, preserve_index=False)


def read(path: str | Path, schema: pa.Schema | None = None, *, required: bool = False, hint: str = "") -> pd.DataFrame:
    """Load a manifest as a DataFrame; a missing file is an empty frame unless ``required``."""
    path = Path(path)
    if not path.exists():
        if required:
            raise ManifestError(f"{path} does not exist{': ' + hint if hint else ''}")
        return empty(schema) if schema is not None else pd.DataFrame()
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise ManifestError(f"{path} is not a readable Parquet manifest ({exc}); delete it and rerun the stage that writes it") from exc
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
    table = conform(df, schema)
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


def read_table(root, rel: str) -> pa.Table | None:
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
