"""A CPU inference engine for the heavy networks: ONNX Runtime, exported from the same weights.

On CPU, ONNX Runtime runs SyncNet's lip tower about 2x and BlazeFace about 5-8x faster than
PyTorch at one thread (``docs/benchmarks.md``, "annotate"), on the same float32 weights: the
outputs equal PyTorch's to ~1e-5 (tested to 1e-4 on SyncNet embeddings and on face boxes).
PyTorch stays the fallback and the GPU path:

- ``--engine auto`` (default): ONNX Runtime on CPU when ``onnxruntime`` is installed (the
  project's ``fast`` extra, which ``make install`` brings), else PyTorch; always PyTorch on CUDA;
- ``--engine torch``: PyTorch everywhere (the reference numerics);
- ``--engine onnx``: ONNX Runtime on CPU, an error when it is not installed.

A network is exported once (``torch.onnx.export``, the TorchScript exporter: no extra
dependency) into memory, and cached under the user cache folder keyed by the weights' hash,
so a worker pays the export only the first time. The cache is an optimisation only: a
folder that cannot be written is skipped, a cached file that does not load is rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

ENGINES = ("auto", "torch", "onnx")


def onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_engine(engine: str | None, device: str | torch.device = "cpu") -> str:
    """``torch`` or ``onnx`` for ``engine`` on ``device`` (see the module doc)."""
    engine = engine or "auto"
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: use {', '.join(ENGINES)}")
    on_cpu = torch.device(device).type == "cpu"
    if engine == "torch" or (engine == "auto" and (not on_cpu or not onnx_available())):
        return "torch"
    if not on_cpu:
        raise ValueError("--engine onnx runs on CPU only; use --engine auto or torch with a GPU")
    if not onnx_available():
        raise ValueError("--engine onnx needs onnxruntime: pip install 'realsync[fast]' (make install brings it)")
    return "onnx"


def cache_dir() -> Path:
    """Where exported networks are kept: ``$REALSYNC_ONNX_CACHE``, else the user cache folder."""
    given = os.environ.get("REALSYNC_ONNX_CACHE")
    if given:
        return Path(given)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("realsync")) / "onnx"


def weights_key(module: torch.nn.Module, *extra: object) -> str:
    """A hash of the module's tensors (names, shapes, bytes) and ``extra`` (input shapes, versions)."""
    h = hashlib.sha256()
    for name, t in module.state_dict().items():
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    for e in (*extra, torch.__version__):
        h.update(repr(e).encode())
    return h.hexdigest()[:24]


def export_onnx(module: torch.nn.Module, example: Sequence[torch.Tensor], inputs: Sequence[str], outputs: Sequence[str]) -> bytes:
    """The ONNX bytes of ``module`` (eval mode, batch dimension dynamic), exported from a copy."""
    import copy

    net = copy.deepcopy(module).eval()
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            net, tuple(example), buf, dynamo=False, input_names=list(inputs), output_names=list(outputs),
            dynamic_axes={n: {0: "batch"} for n in (*inputs, *outputs)}, opset_version=17,
        )  # fmt: skip
    return buf.getvalue()


class OnnxModule:
    """An ONNX Runtime session of a torch module: ``module(*arrays) -> [arrays]`` (CPU); inputs have
    the dtypes of ``example`` (e.g. uint8 frames that the graph casts to float)."""

    def __init__(self, module: torch.nn.Module, example: Sequence[torch.Tensor], inputs: Sequence[str], outputs: Sequence[str], name: str, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.inputs = list(inputs)
        key = weights_key(module, name, [(tuple(e.shape[1:]), str(e.dtype)) for e in example], ort.__version__)
        path = cache_dir() / f"{name}-{key}.onnx"
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads or torch.get_num_threads())
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3  # errors only: no per-session notices on stderr
        self.session = None
        if path.is_file():
            with contextlib.suppress(Exception):  # a damaged cache file: export again
                self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        if self.session is None:
            data = export_onnx(module, example, inputs, outputs)
            self.session = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
            _cache_write(path, data)

    def __call__(self, *arrays: np.ndarray) -> list[np.ndarray]:
        feeds = {n: np.ascontiguousarray(a) for n, a in zip(self.inputs, arrays)}  # the dtype the graph was exported with
        return self.session.run(None, feeds)


def _cache_write(path: Path, data: bytes) -> None:
    """Atomic, best effort: the cache only saves time."""
    from realsync_build.core import atomic

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(path, data, sync=False)
    except OSError:
        pass
