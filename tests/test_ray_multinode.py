"""Two Ray nodes on loopback (``ray.cluster_utils.Cluster``): preprocess and annotate give the
manifests a local run gives.

Every node and the driver are bound to 127.0.0.1: ``node_ip_address`` for each node, and
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, which makes Ray's own address lookup answer the
loopback address (otherwise the GCS advertises the machine's outward address and the second
node or the driver may not reach it). Each node has 1 CPU, so the tasks are spread over both
(checked). Annotate runs with BlazeFace (back) + YAMNet from the shared models folder, passed
explicitly (no environment variable), and without SyncNet (sync skipped), on tiny clips.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'realsync[ray]')")

from realsync_build.core import manifest  # noqa: E402
from realsync_build.core.executors import devices as dev  # noqa: E402
from realsync_build.core.executors.base import Resources  # noqa: E402
from realsync_build.core.executors.ray import RayExecutor  # noqa: E402
from realsync_build.core.root import DatasetRoot  # noqa: E402
from realsync_build.core.schema import ANNOTATIONS, CLIPS, EVENTS, INTERVALS  # noqa: E402
from realsync_build.core.stage import RunOptions  # noqa: E402
from realsync_build.media.synth import make_source  # noqa: E402
from realsync_build.stages.preprocess import PreprocessConfig, run_preprocess  # noqa: E402
from tests.conftest import shared  # noqa: E402

HERE = Path(__file__).resolve().parent
CFG = PreprocessConfig(clip_seconds=2, preset="ultrafast")
MODELS = ("blazeface", "yamnet", "audioset")


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    saved = os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # Ray's address lookup -> 127.0.0.1 (node processes)
    from ray._private import ray_constants

    saved_flag = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False  # the same in this process (read at import time from the variable)
    pythonpath = os.pathsep.join([str(HERE.parent), str(HERE), os.environ.get("PYTHONPATH", "")])
    node = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "object_store_memory": 80 * 2**20}
    c = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    try:
        c.add_node(**node)
        ray.init(
            address=c.address,
            _node_ip_address="127.0.0.1",
            include_dashboard=False,
            runtime_env={"env_vars": {"PYTHONPATH": pythonpath}},
        )
        c.wait_for_nodes()
        yield c
    finally:
        ray.shutdown()
        c.shutdown()
        ray_constants.ENABLE_RAY_CLUSTER = saved_flag
        if saved is None:
            os.environ.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
        else:
            os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = saved


def _sorted(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return df.sort_values(keys).reset_index(drop=True)


def test_two_loopback_nodes_give_the_local_manifests(cluster, tmp_path):
    nodes = [n for n in ray.nodes() if n["Alive"]]
    assert len(nodes) == 2 and {n["NodeManagerAddress"] for n in nodes} == {"127.0.0.1"}

    # the tasks land on both nodes, and each gets the threads Ray gave it (1 CPU), not the driver's cores
    ex = RayExecutor()
    reports = [r for _, r, _ in ex.imap(dev.worker_report, list(range(4)), Resources(num_cpus=1))]
    assert {r["ray_cpus"] for r in reports} == {1.0} and {r["threads"] for r in reports} == {1}

    src = tmp_path / "src"
    make_source(src / "chan_a" / "alpha.mp4", 4.0, width=320, height=180, events=[1.0, 3.0])
    make_source(src / "chan_b" / "beta.mp4", 2.0, width=180, height=320)
    models = tmp_path / "models"
    models.mkdir()
    for sub in MODELS:
        (models / sub).symlink_to(shared(f"models/{sub}"))

    from realsync_build.stages.annotate.config import AnnotateConfig
    from realsync_build.stages.annotate.run import run_annotate

    acfg = AnnotateConfig(face_detector="blazeface-back", events="yamnet", device="cpu")
    got = {}
    for executor in ("local", "ray"):
        root = DatasetRoot(tmp_path / executor)
        opts = RunOptions(workers=2, progress=False, executor=executor)
        rep = run_preprocess(root, src, CFG, opts)
        assert (rep.done, rep.failed) == (2, 0)
        rep, _ = run_annotate(root, acfg, opts, models_dir=models)
        assert (rep.done, rep.failed) == (3, 0), rep.errors
        got[executor] = {
            "clips": _sorted(manifest.read(root.manifest("clips"), CLIPS).drop(columns=["mtime_ns"]), ["clip_id"]),  # when written: per root
            "annotations": _sorted(manifest.read(root.manifest("annotations"), ANNOTATIONS), ["clip_id"]),
            "intervals": _sorted(manifest.read(root.manifest("intervals"), INTERVALS), ["clip_id", "start_s"]),
            "events": _sorted(manifest.read(root.manifest("events"), EVENTS), ["clip_id", "start_s", "label"]),
        }
    assert len(got["local"]["clips"]) == 3 and (got["local"]["annotations"]["sync_status"] == "skipped").all()
    for name in got["local"]:
        pd.testing.assert_frame_equal(got["ray"][name], got["local"][name], obj=name)
