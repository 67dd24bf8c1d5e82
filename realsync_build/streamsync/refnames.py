"""Parameter names: this project's :class:`~realsync_build.streamsync.model.StreamSync` (``trf`` head, SparseSync
snapshot predictor) and the StreamSync code's ``StreamingAVSyncModel`` (jvoas655/StreamSync,
``model/sync_model.py``), one to one.

| here | the StreamSync code | shape here -> there |
| --- | --- | --- |
| ``snapshot.<k>`` | ``<k>`` (``vfeat_extractor``, ``afeat_extractor``, ``v_bridge``, ``transformer.*`` of SparseSync, with ``transformer.global_transformer.PASS_tok``) | same |
| ``stream_token.offset_embed`` | ``transformer.offset_tok`` | ``(21, d)`` -> ``(1, 21, d)`` |
| ``stream_token.proj.*`` | ``transformer.streaming_down_proj.*`` | same |
| ``head.in_norm.*`` | ``streaming_head.in_lnorm.*`` | same |
| ``head.cls`` | ``streaming_head.OFF_tok`` | same ``(1, 1, d)`` |
| ``head.positions.{up,gate,down}.*`` | ``streaming_head.streaming_pos_emb_module.{up_proj,gate_proj,down_proj}.*`` | same |
| ``head.blocks.<i>.*`` | ``streaming_head.blocks.<i>.*`` (``ln1 ln2 attn.{key,query,value,proj} mlp.0 mlp.2``) | same |
| ``head.norm.*`` | ``streaming_head.ln_f.*`` | same |
| ``head.out.*`` | ``streaming_head.logit_head.*`` | same |

The code's model has no LSTM head; ``lstm`` checkpoints have no counterpart there.
"""

from __future__ import annotations

from typing import Mapping

import torch

_PREFIXES = (  # (here, there): longest first
    ("stream_token.offset_embed", "transformer.offset_tok"),
    ("stream_token.proj.", "transformer.streaming_down_proj."),
    ("head.in_norm.", "streaming_head.in_lnorm."),
    ("head.cls", "streaming_head.OFF_tok"),
    ("head.positions.up.", "streaming_head.streaming_pos_emb_module.up_proj."),
    ("head.positions.gate.", "streaming_head.streaming_pos_emb_module.gate_proj."),
    ("head.positions.down.", "streaming_head.streaming_pos_emb_module.down_proj."),
    ("head.blocks.", "streaming_head.blocks."),
    ("head.norm.", "streaming_head.ln_f."),
    ("head.out.", "streaming_head.logit_head."),
    ("snapshot.", ""),
)
_RESHAPE_THERE = {"transformer.offset_tok": lambda t: t.reshape(1, *t.shape)}
_RESHAPE_HERE = {"stream_token.offset_embed": lambda t: t.reshape(t.shape[-2:])}


def reference_name(name: str) -> str:
    """This project's parameter / buffer name -> the StreamSync code's."""
    for here, there in _PREFIXES:
        if name.startswith(here):
            return there + name[len(here):]
    raise KeyError(f"{name}: no counterpart in the StreamSync code's StreamingAVSyncModel")


def project_name(name: str) -> str:
    """The StreamSync code's parameter / buffer name -> this project's."""
    for here, there in _PREFIXES[:-1]:
        if name.startswith(there):
            return here + name[len(there):]
    if name.startswith(("streaming_head.", "transformer.offset_tok", "transformer.streaming_down_proj")):
        raise KeyError(f"{name}: no counterpart in this project's StreamSync")
    return "snapshot." + name


def to_reference(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict of this project's StreamSync in the code's names and shapes."""
    out = {}
    for k, v in state.items():
        name = reference_name(k)
        out[name] = _RESHAPE_THERE.get(name, lambda t: t)(v)
    return out


def from_reference(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A ``StreamingAVSyncModel`` state dict in this project's names and shapes."""
    out = {}
    for k, v in state.items():
        name = project_name(k)
        out[name] = _RESHAPE_HERE.get(name, lambda t: t)(v)
    return out
