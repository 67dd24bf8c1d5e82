"""Model sizes: ``tiny`` trains on a CPU in minutes; ``base`` is near SparseSync's sizes for a GPU."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from realsync_build.streamsync.task import FPS, SAMPLE_RATE, WINDOW_S


@dataclass
class ModelConfig:
    name: str = "tiny"
    predictor: str = "sparsesync"  # key in SNAPSHOT_PREDICTORS
    # inputs (the loader follows these)
    window_s: float = WINDOW_S
    fps: int = FPS
    sample_rate: int = SAMPLE_RATE
    video_size: int = 16  # frames: short side resized to this, centre-cropped square
    # snapshot predictor
    d_model: int = 64
    video_channels: tuple[int, ...] = (16, 32)
    audio_channels: tuple[int, ...] = (8, 16, 32)
    n_mels: int = 32
    n_fft: int = 400
    hop_length: int = 160  # 10 ms
    n_queries: int = 8  # learned queries per modality in the sparse selectors
    corr_dim: int = 0  # offset-correlation projection: not in the paper, off in every config (0: none)
    selector_layers: int = 1
    encoder_layers: int = 2
    n_heads: int = 4
    ff_mult: int = 2
    dropout: float = 0.0
    # streaming part
    stream_head: str = "trf"  # trf | lstm
    stream_dim: int = 128
    stream_layers: int = 3
    stream_heads: int = 4
    stream_dropout: float = 0.1  # streaming head dropout (the StreamSync code's 0.1)
    history: int = 12  # H: windows per training sequence (evaluation history is unlimited)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        names = {f.name for f in fields(cls)}
        kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in names}
        return cls(**kw)


def tiny_config(**overrides) -> ModelConfig:
    return ModelConfig(**overrides)


def base_config(**overrides) -> ModelConfig:
    kw = dict(
        name="base",
        video_size=112,
        d_model=512,
        video_channels=(64, 128, 256, 512),
        audio_channels=(64, 128, 256, 512),
        n_mels=128,
        n_queries=16,
        ff_mult=4,
        selector_layers=3,
        encoder_layers=3,
        n_heads=8,
        dropout=0.1,
        stream_dim=512,
        stream_layers=3,
        stream_heads=8,
    )
    kw.update(overrides)
    return ModelConfig(**kw)


CONFIGS = {"tiny": tiny_config, "base": base_config}


def make_config(name: str, **overrides) -> ModelConfig:
    if name not in CONFIGS:
        raise ValueError(f"unknown model config {name!r}: use one of {', '.join(CONFIGS)}")
    return CONFIGS[name](**{k: v for k, v in overrides.items() if v is not None})
