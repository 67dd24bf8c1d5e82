"""The options of ``realsync annotate`` in one picklable record (sent to every worker)."""

from __future__ import annotations

from dataclasses import dataclass

ONLY_PARTS = ("faces", "sync", "events")
FACE_BATCH_CPU = 16  # frames per detector call on CPU (0 in the config: chosen per device)
SYNC_BATCH_CPU = 32  # SyncNet windows per forward pass on CPU
EVENT_BATCH_CPU = 8  # tagger windows per forward pass on CPU
GPUS_PER_TASK_DEFAULT = 0.25  # Ray: a quarter GPU per clip task when the cluster has GPUs
STRIDE_DEFAULT = 1  # the reference; larger strides are an opt-in speed option (docs/annotate.md)
SETTLE_DEFAULT = 0.01  # error bound per run of the early-settling rule (models/sync_settle.py); 0: whole runs
FACE_FPS_IDLE_DEFAULT = 1.0  # detector rate away from speech, where no label depends on faces
FACE_FPS_STEADY_DEFAULT = 2.5  # detector rate near speech while every track is found (--face-fps when one is missed)


@dataclass
class AnnotateConfig:
    face_detector: str = "sfd"  # sfd | blazeface | blazeface-back
    events: str = "panns"  # panns | panns-32k | yamnet
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    face_fps: float = 5.0  # detector rate near speech; boxes are interpolated to 25 fps
    face_fps_idle: float = FACE_FPS_IDLE_DEFAULT  # detector rate more than SPEECH_MARGIN_S from speech (= face_fps: everywhere the same)
    face_fps_steady: float = FACE_FPS_STEADY_DEFAULT  # near speech, while every track is found at the previous sample
    engine: str = "auto"  # auto | torch | onnx: the CPU inference engine (models/engine.py)
    face_batch: int = 0  # frames per detector call; 0: by device (16 on CPU, from free GPU memory on CUDA)
    sync_batch: int = 0  # SyncNet windows of 5 frames per forward pass; 0: by device (32 on CPU)
    event_batch: int = 0  # tagger windows per forward pass; 0: by device (8 on CPU)
    decode_queue: int = 32  # frames decoded ahead on a CPU thread (0: decode inline)
    gpus_per_task: float | None = None  # Ray GPU share per clip task; None: 0.25 when the cluster has GPUs
    sync_stride: int = STRIDE_DEFAULT  # SyncNet lip features every k-th 5-frame window (1: the reference)
    sync_settle: float = SETTLE_DEFAULT  # error bound per run for settling a run early; 0: score every run whole
    min_face_score: float = 0.9  # syncnet_python's --facedet_scale confidence cut (S3FD)
    min_face_px: float = 50.0  # shorter box side at the 256 px clip size (reference: 100 px on larger video)
    iou_min: float = 0.3  # IoU to link a detection to a track
    max_missed: int = 1  # sampled frames a track may miss before it ends
    min_track_s: float = 1.0
    shot_threshold: float = 0.35
    vad_threshold: float = 0.5
    min_sync_run_s: float = 2.0  # speech-and-face runs shorter than this are not scored (unscored)
    min_confidence: float = 3.0  # SyncNet confidence for talking head
    max_offset: int = 6  # |offset| frames for talking head (the accepted offset window)
    suspect_frames: float = 1.0  # clip offset beyond this is suspect_sync
    event_window_s: float = 2.0
    event_hop_s: float = 1.0
    event_threshold: float = 0.3
    vad_gating: bool = True  # False: the naive schedule (score every face frame)
    only: str | None = None  # faces | sync | events
    require_sync: bool = False
    threads: int = 0  # torch threads per task; 0: decided on the worker (Ray: its CPUs; local: cores / workers)

    def validate(self) -> None:
        if self.only is not None and self.only not in ONLY_PARTS:
            raise ValueError(f"--only must be one of {', '.join(ONLY_PARTS)}, not {self.only!r}")
        if self.face_fps <= 0 or self.face_fps > 25:
            raise ValueError("--face-fps must be in (0, 25]")
        if self.event_window_s <= 0 or self.event_hop_s <= 0:
            raise ValueError("--event-window and --event-hop must be positive")
        if not 0 < self.face_fps_idle <= self.face_fps:
            raise ValueError("--face-fps-idle must be in (0, --face-fps]")
        if not 0 < self.face_fps_steady <= self.face_fps:
            raise ValueError("--face-fps-steady must be in (0, --face-fps]")
        if not 0 <= self.sync_settle < 0.5:
            raise ValueError("--sync-settle must be in [0, 0.5) (an error probability per run; 0 scores every run whole)")
        from realsync_build.models.engine import ENGINES

        if self.engine not in ENGINES:
            raise ValueError(f"--engine must be one of {', '.join(ENGINES)}, not {self.engine!r}")
        if self.sync_stride < 1:
            raise ValueError("--sync-stride must be at least 1")
        if self.gpus_per_task is not None and not (0 <= self.gpus_per_task <= 64):
            raise ValueError("--gpus-per-task must be between 0 and 64")
        if min(self.face_batch, self.sync_batch, self.event_batch, self.decode_queue) < 0:
            raise ValueError("batch sizes and --decode-queue must not be negative")
        if self.min_sync_run_s < 0.25:
            raise ValueError("--min-sync-run must be at least 0.25 s (SyncNet needs more than 5 frames)")
        if not 0 <= self.min_face_score <= 1:
            raise ValueError("--min-face-score must be within 0..1")
        if self.max_offset > 15:
            raise ValueError("--max-offset must be at most 15 frames (SyncNet searches +/-15)")
