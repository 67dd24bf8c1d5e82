"""Shared test helpers: the shared fixtures (skipped with a reason when absent) and generated media."""

from __future__ import annotations

from pathlib import Path

import pytest

from realsync_build import testdata
from realsync_build.core.root import DatasetRoot


def shared(rel: str) -> Path:
    """A file under ../shared/testdata, or skip the test saying what is missing."""
    p = testdata.testdata_file(rel)
    if p is None:
        pytest.skip(f"shared fixture {rel} not found (set REALSYNC_TESTDATA to ../shared/testdata)")
    return p


@pytest.fixture
def ted_clip() -> Path:
    return shared(testdata.TED)


@pytest.fixture
def tennis_clip() -> Path:
    return shared(testdata.TENNIS)


@pytest.fixture
def ds(tmp_path) -> DatasetRoot:
    root = DatasetRoot(tmp_path / "data")
    root.root.mkdir()
    return root


@pytest.fixture(scope="session")
def trained_snapshot():
    """The tiny SparseSync trained from scratch on the alignment task (tests/learning_support.py), once per
    session: the SparseSync learning test checks it, the StreamSync learning test starts from it."""
    from tests.learning_support import fixed_threads, train_snapshot

    with fixed_threads():
        return train_snapshot()
