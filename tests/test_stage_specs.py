"""One declaration per step: core.state.SPECS holds each step's contract, the stage completes that same
StageSpec (recorded parameters, a verification callable, its per-item work), and the driver reads only it."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from realsync_build.core import state
from realsync_build.core.root import DatasetRoot
from realsync_build.core.stage import RunOptions, StageSpec, run_stage


def test_every_step_is_one_stagespec_and_the_old_contract_is_gone():
    assert not hasattr(state, "StageContract") and not hasattr(state, "CONTRACTS")
    assert list(state.SPECS) == ["fetch", "preprocess", "annotate", "split", "export", "train"]
    assert all(isinstance(s, StageSpec) for s in state.SPECS.values())
    assert state.UPSTREAM["export"] == ("split", "annotate") and state.COMMANDS["split"] == "realsync split"
    assert "verified_by" not in {f.name for f in dataclasses.fields(StageSpec)}  # verification is a callable now


def test_each_stage_completes_its_entry_and_records_exactly_what_it_declares():
    from realsync_build.stages.annotate.config import AnnotateConfig
    from realsync_build.stages.annotate.run import SPEC as annotate
    from realsync_build.stages.annotate.run import output_params as annotate_params
    from realsync_build.stages.export.webdataset import SPEC as export
    from realsync_build.stages.export.webdataset import WebDatasetConfig
    from realsync_build.stages.export.webdataset import output_params as export_params
    from realsync_build.stages.fetch import SPEC as fetch
    from realsync_build.stages.preprocess.run import SPEC as preprocess
    from realsync_build.stages.preprocess.run import PreprocessConfig
    from realsync_build.stages.preprocess.run import output_params as preprocess_params
    from realsync_build.stages.split import DRAWN_PARAMS
    from realsync_build.stages.split import SPEC as split
    from realsync_build.stages.split.run import SplitConfig
    from realsync_build.stages.split.run import output_params as split_params

    for spec in (fetch, preprocess, annotate, split, export):
        core = state.SPECS[spec.name]
        assert (spec.command, spec.inputs, spec.outputs, spec.output_dirs) == (core.command, core.inputs, core.outputs, core.output_dirs)
        assert spec.params is not None
    assert set(preprocess_params(PreprocessConfig())) == set(preprocess.params)
    assert set(annotate_params(AnnotateConfig())) == set(annotate.params)
    assert set(split_params(SplitConfig())) == set(DRAWN_PARAMS) and set(DRAWN_PARAMS) < set(split.params)
    assert set(export_params(WebDatasetConfig())) == set(export.params)
    assert (fetch.manifest, preprocess.manifest, annotate.manifest) == ("videos", "clips", "annotations")
    with pytest.raises(ValueError, match=r"\['outputs'\] are declared once"):
        preprocess.complete(outputs=("clips", "extra"))


def test_stage_run_refuses_a_parameter_its_declaration_does_not_name(tmp_path):
    spec = state.SPECS["export"].complete(params=("--seed",))
    root = DatasetRoot(tmp_path)
    with pytest.raises(ValueError, match=r"export records \['--shard-sise'\], which its StageSpec does not declare"):
        with state.stage_run(root, spec, {"--seed": 0, "--shard-sise": 1}, check_upstream=False, lock=False):
            pass
    assert state.load(root, "export") is None  # refused before anything was recorded


def _one(task):
    return [{"clip_id": task["video_id"], "status": "done"}]


def test_the_driver_reads_verification_from_the_spec(tmp_path):
    root = DatasetRoot(tmp_path)
    spec = StageSpec("square", manifest="clips", task_key="video_id", fn=_one, error_rows=lambda t, e: [])
    tasks = [{"video_id": "a"}, {"video_id": "b"}]
    opts = RunOptions(progress=False, executor="inline")
    assert run_stage(spec, root, tasks, opts).done == 2
    assert run_stage(spec, root, tasks, opts).skipped_done == 2  # no check declared: done is done
    checked: list[str] = []

    def only_a_still_checks_out(task: dict, rows: pd.DataFrame) -> bool:
        checked.append(task["video_id"])
        return task["video_id"] == "a"

    again = run_stage(spec.complete(verify=only_a_still_checks_out), root, tasks, opts)
    assert (again.skipped_done, again.done) == (1, 1) and checked == ["a", "b"]
