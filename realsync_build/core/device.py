"""Torch devices: refuse one this machine does not have before any work starts."""

from __future__ import annotations


def check_device(name: str) -> None:
    """Refuse a torch device this machine does not have, in one line (exit 1), before any work."""
    from realsync_build.core.errors import EnvironmentFault, UserError

    text = str(name).strip().lower()
    if text in ("auto", "cpu"):
        return
    if not (text == "cuda" or text.startswith("cuda:")):
        raise UserError(f"--device {name!r}: use auto, cpu, cuda or cuda:N")
    import torch

    if not torch.cuda.is_available():
        raise EnvironmentFault(f"--device {name}: this machine has no usable CUDA device (use --device cpu or auto)")
    if ":" in text:
        idx = text.split(":", 1)[1]
        if not idx.isdigit() or int(idx) >= torch.cuda.device_count():
            raise EnvironmentFault(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) here")
