"""The Ray executor: a stage's per-item function as Ray tasks on a cluster.

Same contract as :class:`realsync_build.core.executors.base.LocalExecutor`: ``imap`` takes
a picklable top-level function and plain-dict items and yields
``(index, result, error)`` in completion order.  Each item is one Ray task
asking for the stage's :class:`~realsync_build.core.executors.base.Resources` (CPUs, and a
GPU fraction only when the cluster has GPUs).  At most ``max_in_flight`` tasks
are submitted at once, so a million-item stage does not flood the scheduler.

Failures:

* the function raised -> the item's one-line error (the function runs inside
  :func:`~realsync_build.core.executors.base.call_safely`, so the task itself succeeds);
* the worker process died (killed, out of memory, node lost) -> Ray re-runs the
  task up to ``max_retries`` times; after that the item gets a one-line error.
  Stage functions write their outputs atomically, so a killed attempt leaves
  only temp files, never a file a rerun would trust.

Where Ray runs: ``address="auto"`` or ``"HOST:PORT"`` joins an existing cluster
(``ray://HOST:10001`` uses Ray Client); no address starts a private local Ray
instance with ``workers`` CPUs (default: the machine's cores), which
:meth:`close` shuts down again.  If Ray is already initialised in this process
(tests, notebooks) that instance is used and left running.

Ray is an optional dependency: ``pip install 'realsync[ray]'``.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any, Callable, Iterator, Sequence

from realsync_build.core.executors.base import Executor, ItemError, Resources, call_safely, default_workers, error_message, failure_detail

INSTALL_HINT = "Ray is not installed: pip install 'realsync[ray]' (or pip install ray), or use --executor local"
LOCAL_OBJECT_STORE_BYTES = 512 * 2**20  # results are small rows; don't reserve 30% of RAM for them


def import_ray():
    """``ray``, or a RuntimeError with a one-line install hint."""
    try:
        import ray  # noqa: PLC0415 - optional dependency
    except ImportError as exc:
        raise RuntimeError(INSTALL_HINT) from exc
    return ray


def _run_item(fn: Callable[[Any], Any], item: Any) -> tuple[Any, str | None, str | None]:
    """The Ray task body: the stage function, its exception turned into an error message and its detail."""
    return call_safely(fn, item)


def _ray_error_line(exc: BaseException) -> str:
    """One line for a task Ray could not complete (worker died, node lost, cancelled)."""
    name = type(exc).__name__
    hints = {
        "WorkerCrashedError": "the Ray worker died while running this item (killed or out of memory)",
        "NodeDiedError": "the Ray node running this item died",
        "OutOfMemoryError": "the Ray worker was killed for using too much memory",
        "TaskCancelledError": "the task was cancelled",
        "ObjectLostError": "the item's result was lost with its node",
    }
    if name in hints:
        return f"{name}: {hints[name]}; rerun to retry it"
    text = str(exc).strip().splitlines()
    return f"{name}: {text[0]}" if text else name


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast on a ``HOST:PORT`` nobody listens on (Ray itself would retry for minutes)."""
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        return  # "auto", "local", or a form Ray resolves itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise RuntimeError(
            f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); "
            "start it with `ray start --head` there, or check --ray-address"
        ) from exc


class RayExecutor(Executor):
    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        max_in_flight: int | None = None,
        max_retries: int = 3,
        init_kwargs: dict | None = None,
    ) -> None:
        ray = import_ray()
        self._ray = ray
        self.max_retries = max_retries
        self._max_in_flight = max_in_flight
        self._owns_ray = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
            if address:
                check_reachable(address)
                kwargs["address"] = address
            else:
                kwargs["address"] = "local"  # a new private instance, never someone's running cluster
                kwargs["num_cpus"] = workers or default_workers()
                kwargs["object_store_memory"] = LOCAL_OBJECT_STORE_BYTES
                # Local workers import this package from the same place the driver does.
                if os.environ.get("PYTHONPATH"):
                    kwargs["runtime_env"] = {"env_vars": {"PYTHONPATH": os.environ["PYTHONPATH"]}}
            kwargs.update(init_kwargs or {})
            try:
                ray.init(**kwargs)
            except (ConnectionError, ImportError, ValueError) as exc:
                raise RuntimeError(f"cannot connect to the Ray cluster at {address!r}: {error_message(exc)}") from exc
            self._owns_ray = True

    # ------------------------------------------------------------ resources

    def task_options(self, resources: Resources | None) -> dict[str, Any]:
        """Ray task options for one item: CPUs always; GPUs only when the cluster has some."""
        res = resources or Resources()
        biggest = self._largest_node()
        # never ask for more than one node has: such a task would wait forever
        cpus = min(res.num_cpus, biggest.get("CPU", res.num_cpus)) if biggest.get("CPU") else res.num_cpus
        opts: dict[str, Any] = {"num_cpus": cpus, "max_retries": self.max_retries, "retry_exceptions": False}
        if res.num_gpus and biggest.get("GPU", 0) > 0:
            opts["num_gpus"] = min(res.num_gpus, biggest["GPU"])
        return opts

    def _largest_node(self) -> dict[str, float]:
        """The most CPUs and GPUs any one live node offers."""
        best: dict[str, float] = {}
        for node in self._ray.nodes():
            if not node.get("Alive", True):
                continue
            for name in ("CPU", "GPU"):
                best[name] = max(best.get(name, 0.0), float(node.get("Resources", {}).get(name, 0.0)))
        return best

    def in_flight_limit(self, resources: Resources | None) -> int:
        """How many tasks to keep submitted: twice what the cluster can run at once."""
        if self._max_in_flight:
            return max(1, self._max_in_flight)
        res = resources or Resources()
        cluster = self._ray.cluster_resources()
        slots = cluster.get("CPU", 1.0) / max(res.num_cpus, 1e-3)
        if res.num_gpus and cluster.get("GPU", 0) > 0:
            slots = min(slots, cluster["GPU"] / res.num_gpus)
        return max(2, int(2 * slots))

    # ------------------------------------------------------------ mapping

    def imap(self, fn, items: Sequence[Any], resources: Resources | None = None) -> Iterator[tuple[int, Any, str | None]]:
        ray = self._ray
        if not items:
            return
        task = ray.remote(_run_item).options(**self.task_options(resources))
        fn_ref = ray.put(fn)  # pickled once, not once per task
        limit = self.in_flight_limit(resources)
        next_item = 0
        in_flight: dict[Any, int] = {}
        try:
            while next_item < len(items) or in_flight:
                while next_item < len(items) and len(in_flight) < limit:
                    in_flight[task.remote(fn_ref, items[next_item])] = next_item
                    next_item += 1
                ready, _ = ray.wait(list(in_flight), num_returns=1)
                for ref in ready:
                    idx = in_flight.pop(ref)
                    try:
                        result, err, detail = ray.get(ref)
                    except ray.exceptions.RayError as exc:  # worker/node died past max_retries, cancelled
                        result, err, detail = None, _ray_error_line(exc), failure_detail(exc)
                    yield idx, result, None if err is None else ItemError(err, detail)
        finally:
            for ref in in_flight:  # interrupted (Ctrl-C, driver error): don't leave tasks running
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - best effort
                    pass

    def close(self) -> None:
        if self._owns_ray and self._ray.is_initialized():
            self._ray.shutdown()
        self._owns_ray = False


def make_ray(workers: int | None = None, ray_address: str | None = None, devices: Any = None, **kw: Any) -> Executor:
    """Registry factory (imports ray; a RuntimeError with an install hint when it is absent).

    ``devices`` is for the local pool: Ray gives each GPU task its own CUDA_VISIBLE_DEVICES."""
    return RayExecutor(address=ray_address, workers=workers, **kw)
