"""Loading checkpoints strictly: every key present, nothing extra, every shape equal.

``torch.nn.Module.load_state_dict(strict=True)`` stops at the first shape error with a
long traceback; here the whole difference is listed in one readable message, so a wrong
file (another model, another release) is refused with a clear reason.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable, Iterator, Mapping

import torch

from realsync_build.models.safe_load import UnsafeCheckpointError, safe_load


class WeightsLayoutError(ValueError):
    """A checkpoint's keys or shapes differ from the model's layout."""


def _names(items: list[str], limit: int = 6) -> str:
    head = ", ".join(items[:limit])
    return head + (f", ... (+{len(items) - limit} more)" if len(items) > limit else "")


def layout_diff(expected: Mapping[str, tuple[int, ...]], got: Mapping[str, torch.Tensor | tuple[int, ...]]) -> tuple[list[str], list[str], list[str]]:
    """(missing keys, unexpected keys, 'key: file (..) vs model (..)' shape mismatches)."""
    shapes = {k: tuple(v.shape) if hasattr(v, "shape") else tuple(v) for k, v in got.items()}
    missing = [k for k in expected if k not in shapes]
    unexpected = [k for k in shapes if k not in expected]
    mismatched = [
        f"{k}: file {shapes[k]} vs model {tuple(expected[k])}" for k in expected if k in shapes and shapes[k] != tuple(expected[k])
    ]
    return missing, unexpected, mismatched


def check_layout(expected: Mapping[str, tuple[int, ...]], got: Mapping, what: str) -> None:
    missing, unexpected, mismatched = layout_diff(expected, got)
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s): {_names(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): {_names(unexpected)}")
        if mismatched:
            parts.append(f"{len(mismatched)} shape mismatch(es): {_names(mismatched, 4)}")
        raise WeightsLayoutError(f"{what}: checkpoint does not match the official layout; " + "; ".join(parts))


def model_layout(model: torch.nn.Module, skip: Callable[[str], bool] = lambda k: False) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items() if not skip(k)}


def read_checkpoint(path: str | Path, what: str, trusted: bool = False) -> object:
    """``torch.load`` on CPU with ``weights_only=True`` and nothing else (:func:`safe_load`).

    ``trusted`` is kept for callers and ignored: a verified hash does not protect a file
    placed in the models folder by hand, so no file is ever fully unpickled.  PANNs'
    numpy metadata and the SparseSync OmegaConf config go through the explicit allowlist
    of :mod:`realsync_build.models.safe_load`; anything else is refused in one line.
    """
    del trusted
    try:
        return safe_load(path, what)
    except (FileNotFoundError, UnsafeCheckpointError) as exc:
        raise WeightsLayoutError(str(exc)) from None


def load_strict(model: torch.nn.Module, state: Mapping, what: str, skip: Callable[[str], bool] = lambda k: False) -> torch.nn.Module:
    """Check ``state`` against ``model``'s layout (keys for which ``skip`` is true are ignored), then load."""
    expected = model_layout(model, skip)
    state = {k: v for k, v in state.items() if not skip(k)}
    check_layout(expected, state, what)
    model.load_state_dict(state, strict=False)
    return model


@contextlib.contextmanager
def no_init() -> Iterator[None]:
    """Build a module without its random initialisation (the checkpoint overwrites every weight).

    Initialising Cnn14's 81 M parameters takes seconds; ``torch.nn.init``'s in-place
    initialisers become no-ops inside this block (the idea of ``torch.nn.utils.skip_init``
    applied to a whole model). Only use it right before a strict load.
    """
    names = ("uniform_", "normal_", "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_", "xavier_normal_", "trunc_normal_")
    saved = {n: getattr(torch.nn.init, n) for n in names}
    try:
        for n in names:
            setattr(torch.nn.init, n, lambda tensor, *a, **k: tensor)
        yield
    finally:
        for n, f in saved.items():
            setattr(torch.nn.init, n, f)
