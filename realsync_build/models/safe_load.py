"""The one way this project reads a ``.pt``/``.pth`` file: ``torch.load(weights_only=True)``.

Nothing in a checkpoint can run code.  ``torch.load(weights_only=True)`` only rebuilds
tensors and plain containers; on top of that an explicit allowlist maps the few foreign
classes the public checkpoints pickle to inert stand-ins:

- the public SparseSync files pickle their OmegaConf config under ``args``
  (``omegaconf.dictconfig.DictConfig``, ``...ListConfig``, ``omegaconf.nodes.*Node``,
  ``omegaconf.base.*Metadata``, ``typing.Any``, ``collections.defaultdict``).  The stand-ins
  only record the pickled state; :func:`plain` turns them into dicts, lists and scalars.
  OmegaConf is never imported, and a stand-in has no behaviour to trigger.
- numpy scalars/arrays (PANNs' training metadata) through torch's own numpy allowlist.

Anything else (``os.system``, ``builtins.eval``, ``subprocess.Popen``...) is refused by
torch's restricted unpickler before it is called; :class:`UnsafeCheckpointError` carries
one line naming the global.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import torch


class UnsafeCheckpointError(ValueError):
    """A checkpoint could not be read with the restricted unpickler (foreign code or damage)."""


class _Pickled:
    """Stand-in for an allowlisted foreign class: keeps the pickled state, does nothing else."""

    def __init__(self, *args: Any) -> None:
        self._args = args
        self._state: Any = None

    def __setstate__(self, state: Any) -> None:
        self._state = state


class _DictConfig(_Pickled):
    pass


class _ListConfig(_Pickled):
    pass


class _Node(_Pickled):
    pass


class _Metadata(_Pickled):
    pass


class _Any:
    """Stand-in for ``typing.Any`` (OmegaConf stores it as a key/element type)."""


_OMEGACONF_NODES = ("AnyNode", "StringNode", "IntegerNode", "FloatNode", "BooleanNode", "BytesNode", "PathNode", "EnumNode", "ValueNode", "UnionNode")

ALLOWLIST: list[tuple[Any, str]] = [
    (_DictConfig, "omegaconf.dictconfig.DictConfig"),
    (_ListConfig, "omegaconf.listconfig.ListConfig"),
    (_Metadata, "omegaconf.base.ContainerMetadata"),
    (_Metadata, "omegaconf.base.Metadata"),
    (_Any, "typing.Any"),
    (defaultdict, "collections.defaultdict"),
    (dict, "builtins.dict"),
    (list, "builtins.list"),
    (int, "builtins.int"),
    (dict, "__builtin__.dict"),
    (list, "__builtin__.list"),
    (int, "__builtin__.long"),
    *[(_Node, f"omegaconf.nodes.{n}") for n in _OMEGACONF_NODES],
]


def _numpy_allowlist() -> list:
    """numpy arrays and scalars, under both the numpy 1.x and 2.x module names."""
    import numpy as np

    core = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray  # type: ignore[attr-defined]
    out: list = [np.dtype, np.ndarray]
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        out += [(core.scalar, f"{mod}.scalar"), (core._reconstruct, f"{mod}._reconstruct")]
    out += [(type(np.dtype(t)), f"numpy.dtypes.{type(np.dtype(t)).__name__}") for t in ("f4", "f8", "i4", "i8", "u1", "b1")]
    return out


def safe_load(path: str | Path, what: str = "checkpoint", map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with the allowlist above; foreign objects stay stand-ins.

    Raises ``FileNotFoundError`` for a missing file and :class:`UnsafeCheckpointError`
    (one line) for anything the restricted unpickler refuses or cannot parse.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what}: {path} not found")
    try:
        with torch.serialization.safe_globals(ALLOWLIST + _numpy_allowlist()):
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds on foreign or damaged files
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        first = lines[0] if lines else type(exc).__name__
        code = [ln for ln in lines if "GLOBAL" in ln]
        if code:
            import re

            # name what it pickles, and nothing of torch's advice (allowlisting it, weights_only=False)
            found = re.search(r"GLOBAL\s+([\w.]+)", code[0])
            name = f"GLOBAL {found[1]}" if found else code[0][:120]
            raise UnsafeCheckpointError(f"{what}: {path} refused: it pickles code this project does not run ({name})") from None
        detail = [ln for ln in lines if "Unsupported" in ln or "Error" in ln] or [first]
        raise UnsafeCheckpointError(f"{what}: {path} is unreadable (not a safe torch checkpoint: {detail[0][:200]})") from None


def plain(obj: Any) -> Any:
    """Stand-ins (and containers holding them) -> plain dicts, lists and scalars.

    An OmegaConf ``DictConfig``'s pickled state holds ``_content`` (key -> node or
    container); a value node holds ``_val``.  Interpolations stay as their ``${...}`` strings.
    """
    if isinstance(obj, (_DictConfig, _ListConfig)):
        state = obj._state if isinstance(obj._state, dict) else {}
        content = state.get("_content")
        if isinstance(obj, _DictConfig):
            return {str(k): plain(v) for k, v in (content or {}).items()} if isinstance(content, dict) else None
        return [plain(v) for v in content] if isinstance(content, (list, tuple)) else None
    if isinstance(obj, _Node):
        state = obj._state if isinstance(obj._state, dict) else {}
        return plain(state.get("_val"))
    if isinstance(obj, (_Metadata, _Any)):
        return None
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain(v) for v in obj) if isinstance(obj, list) else tuple(plain(v) for v in obj)
    return obj
