"""StreamSync's training step equals the StreamSync code's (jvoas655/StreamSync), to 1e-4.

``tests/fixtures/streamsync/reference_step.pt`` was made once by running the code itself outside the project
(``bench/streamsync_reference_step.py --make-fixture``; docs/streamsync.md has the command) in the reduced
setting of :mod:`realsync_build.streamsync.refcheck`: seeded weights under the code's parameter names, seeded
spans through the code's own transforms and window cutting, one phase-1 and one phase-2 step with its
``toggle_mode``, optimiser, schedule and step functions, 18 streaming evaluation iterations.  Here the
project's code takes the same steps from the same seeds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from realsync_build.streamsync.refcheck import SETTING, TOLERANCE

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
import streamsync_reference_step as bench  # noqa: E402

FIXTURE = REPO / "tests" / "fixtures" / "streamsync" / "reference_step.pt"


@pytest.fixture(scope="module")
def fixture():
    return torch.load(FIXTURE, weights_only=True)


@pytest.fixture(scope="module")
def figures(fixture):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # about 8 CPU seconds of work; on a loaded machine a second thread mostly waits
    try:
        return bench.compare(fixture, bench.run_project(fixture, step_by_step=False))
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow
def test_one_phase_1_and_one_phase_2_step_equal_the_codes(figures, fixture):
    f = figures
    assert f["layout_equal"]  # every parameter and buffer has its counterpart (refnames)
    assert f["targets"] == 0.0  # the code's label transform: 0.1 / 0.8 / 0.1, 0.9 / 0.1 at the edge class
    assert f["audio_shape"] and f["train_audio_inputs"] <= TOLERANCE and f["eval_audio_inputs"] <= TOLERANCE  # span front end, 62 frames
    # the steps start from the code's own audio windows: MKL's FFT rounds the last bits per CPU (docs/streamsync.md)
    assert "train_audio_windows" in fixture["inputs"] and "eval_audio_windows" in fixture["inputs"]
    assert f["lr_schedule"] <= 1e-9  # warm-up from lr / 100, constant, decay to lr x 1e-4
    for phase in ("phase1", "phase2"):
        assert f[f"{phase}_trainable_equal"] and f[f"{phase}_grad_names_equal"], phase  # what trains, what gets a gradient
        assert f[f"{phase}_lr"] == 0.0
        assert f[f"{phase}_loss"] <= TOLERANCE and f[f"{phase}_logits"] <= TOLERANCE, phase
        assert f[f"{phase}_grads"] <= TOLERANCE, (phase, f[f"{phase}_grads_worst"], f[f"{phase}_grad_groups"])
        assert f[f"{phase}_updates"] <= TOLERANCE, (phase, f[f"{phase}_update_groups"])
        assert f[f"{phase}_unmoved_equal"], phase  # frozen parameters stay put on both sides
        # attention key biases: softmax ignores a shift shared by all keys, so their gradient is 0 up to rounding
        assert all(n.endswith("attn.key.bias") for n in f[f"{phase}_zero_grads"]), f[f"{phase}_zero_grads"]
        assert f[f"{phase}_zero_grad_moves"] <= 1e-6, phase  # and Adam moves them by less than a millionth of lr
    # phase 2: the code's K window (micro-batch 1 % (H - 2K) + K) and this project's "cycle" placement agree
    assert f["phase2_grad_range"] == tuple(f["phase2_reference_window"]) == (2, SETTING["k"])
    assert fixture["steps"][0]["mode"] == 1 and fixture["steps"][1]["mode"] == 2
    assert len(fixture["steps"][1]["grads"]) > 10 * len(fixture["steps"][0]["grads"])  # phase 2 trains the backbone too
    assert f["buffers"] <= TOLERANCE  # BatchNorm running statistics: per iteration, as the code
    assert fixture["steps"][0]["loss"] > 1.0 and fixture["eval_stream_logits"].std() > 0.1  # the fixture is not degenerate


@pytest.mark.slow
def test_18_streaming_evaluation_iterations_give_the_codes_logits(figures, fixture):
    assert fixture["eval_stream_logits"].shape == (SETTING["eval_batch"], SETTING["eval_iterations"], 21)
    assert figures["eval_snapshot_logits"] <= TOLERANCE
    assert figures["eval_stream_logits"] <= TOLERANCE


def test_the_code_places_windows_2_s_before_the_listed_start_and_window_start_code_does_too(fixture):
    rows = bench.placement_check(fixture)
    assert len(rows) == len(bench.PLACEMENT_OFFSETS)
    for r in rows:
        ours, code = r["video_start_s"]
        assert ours == code == fixture["placement"]["start_s"] - 2.0, r
        assert r["audio_start_sample"][0] == r["audio_start_sample"][1], r  # audio start = video start + offset, to the sample
        assert r["target_class"][0] == r["target_class"][1] and r["target"] == 0.0, r


def test_parameter_names_map_one_to_one(fixture):
    from realsync_build.streamsync.model import StreamSync
    from realsync_build.streamsync.refcheck import model_config
    from realsync_build.streamsync.refnames import from_reference, project_name, reference_name, to_reference

    with torch.device("meta"):
        ours = StreamSync(model_config()).state_dict()
    ref = {k: tuple(v) for k, v in fixture["layout"].items()}
    mapped = {k: tuple(v.shape) for k, v in to_reference(ours).items()}
    assert mapped == ref
    assert all(project_name(reference_name(k)) == k for k in ours)
    back = from_reference({k: torch.empty(v, device="meta") for k, v in ref.items()})
    assert {k: tuple(v.shape) for k, v in back.items()} == {k: tuple(v.shape) for k, v in ours.items()}
    # phase 1 trains what the code's load_ckpt finds missing from a SparseSync checkpoint (its model_only_params)
    model_only = set(fixture["model_only"])
    with torch.device("meta"):
        model = StreamSync(model_config())
    new = {reference_name(n) for n, _ in model.named_parameters() if model.is_new_parameter(n)}
    assert new == model_only
