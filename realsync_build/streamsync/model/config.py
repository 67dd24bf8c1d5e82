"""Model sizes.  The snapshot predictor is SparseSync (:mod:`realsync_build.streamsync.sparsesync`).

``base`` is the public ``22-07-28T15-49-45`` checkpoint's network (S3D + ResNet-18,
512-d, 16 selectors, 3 + 3 layers, 8 heads; 5 s windows at 25 fps, short side 256 px
centre-cropped to 224, 16 kHz audio, n_fft 512 / hop 128), so ``--init-from
sparsesync-vggsound-sparse`` loads into it.  ``tiny`` is the same architecture at
small sizes for CPU tests and smoke runs: extractor channels / 8 (64-d), 4 selectors,
1 + 1 layers, 32 px frames, no pretrained weights.

There is no offset-correlation path in any config (the earlier home-made predictor had
one; it is not in the paper and is gone).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from realsync_build.streamsync.task import FPS, SAMPLE_RATE, WINDOW_S


AUDIO_FRONTENDS = ("window", "span")


@dataclass
class ModelConfig:
    name: str = "tiny"
    predictor: str = "sparsesync"  # key in SNAPSHOT_PREDICTORS
    # inputs (the loader follows window_s / fps / sample_rate / video_size)
    window_s: float = WINDOW_S
    fps: int = FPS
    sample_rate: int = SAMPLE_RATE
    video_size: int = 32  # decoded frames: short side scaled to this, centred square kept
    input_size: int | None = None  # centre crop fed to the network (<= video_size; None: all of video_size)
    n_fft: int = 128
    hop_length: int = 128
    # audio front end: "window" = SparseSync's (each 5 s window alone: 1 + L // hop frames, standardised over the
    # window; causal, what a live monitor can do); "span" = the StreamSync code's (the loader standardises the
    # log spectrogram over the whole multi-window span, 5 s + H x hop, and cuts L // hop frames per window)
    audio_frontend: str = "window"
    # SparseSync sizes
    width_div: int = 8  # extractor channel divisor (1 = published S3D / ResNet-18)
    d_model: int = 64  # n_embd; must equal 512 / width_div (the audio bridge is the identity)
    n_heads: int = 4
    n_queries: int = 4  # learned selectors per modality
    selector_layers: int = 1
    encoder_layers: int = 1  # global transformer
    dropout: float = 0.0  # embd / resid / attn dropout (0.1 in the published config)
    # training from scratch (docs/sparsesync.md "Training tiny from scratch"): the std of the transformer's linear
    # layers at initialisation (0.02 published, for 512-d) and S3D's BatchNorm momentum (0.001 published)
    init_std: float = 0.125
    s3d_bn_momentum: float = 0.1
    # streaming part
    stream_head: str = "trf"  # trf | lstm
    stream_dim: int = 128
    stream_layers: int = 3
    stream_heads: int = 4
    stream_dropout: float = 0.1  # streaming head dropout (the StreamSync code's 0.1)
    history: int = 12  # H: windows per training sequence (evaluation history is unlimited)
    # how training batches reach the snapshot predictor's BatchNorm: "iteration" (the StreamSync code's: one call per
    # streaming iteration, statistics over the B windows of that iteration) or "sequence" (all B x H windows at once)
    snapshot_batch: str = "iteration"

    def __post_init__(self) -> None:
        if self.audio_frontend not in AUDIO_FRONTENDS:
            raise ValueError(f"audio_frontend {self.audio_frontend!r}: use one of {', '.join(AUDIO_FRONTENDS)}")
        if self.snapshot_batch not in ("iteration", "sequence"):
            raise ValueError(f"snapshot_batch {self.snapshot_batch!r}: use iteration or sequence")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        names = {f.name for f in fields(cls)}
        kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in names}
        return cls(**kw)

    @property
    def crop_size(self) -> int:
        return self.video_size if self.input_size is None else self.input_size

    @property
    def window_frames(self) -> int:
        return int(round(self.window_s * self.fps))

    @property
    def window_samples(self) -> int:
        return int(round(self.window_s * self.sample_rate))


def tiny_config(**overrides) -> ModelConfig:
    return ModelConfig(**overrides)


def base_config(**overrides) -> ModelConfig:
    kw = dict(
        name="base",
        video_size=256,
        input_size=224,
        n_fft=512,
        hop_length=128,
        width_div=1,
        d_model=512,
        n_heads=8,
        n_queries=16,
        selector_layers=3,
        encoder_layers=3,
        dropout=0.1,
        init_std=0.02,
        s3d_bn_momentum=0.001,
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
