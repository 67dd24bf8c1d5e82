"""Face detectors from face-alignment behind :class:`~realsync_build.models.base.FaceDetector`.

- ``sfd``: S3FD (the detector family SyncNet's own pipeline uses), ``SFDDetector`` with
  ``path_to_detector`` from the registry (``s3fd-619a316812.pth``);
- ``blazeface`` / ``blazeface-back``: face-alignment's BlazeFace network (the one its
  ``BlazeFaceDetector`` wraps; 128 px front / 256 px back model), loaded as that detector
  loads ``path_to_detector`` and ``path_to_anchor``, from the registry's files.

face-alignment downloads weights through torch.hub whenever it is not given paths; these
wrappers always pass verified local paths, and check the checkpoint layout first so a
wrong file is refused with a clear message.

BlazeFace sees a square input: ``BlazeFaceDetector`` centre-crops wide frames, which would
miss faces near the sides of 16:9 video. :class:`BlazeFace` instead runs the network on
overlapping squares covering the whole frame (two for 16:9) and merges them with
non-maximum suppression.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from realsync_build.models.weights import WeightsLayoutError, check_layout, load_strict, read_checkpoint


def nms(boxes: np.ndarray, iou_threshold: float = 0.3) -> np.ndarray:
    """Keep the best-scoring of overlapping ``(k, 5)`` boxes."""
    if len(boxes) == 0:
        return boxes.reshape(0, 5)
    order = np.argsort(-boxes[:, 4])
    keep = []
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = np.maximum(0, x2 - x1) * np.maximum(0, y2 - y1)
    while len(order):
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        iou = inter / np.maximum(area[i] + area[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return boxes[keep]


def square_tiles(height: int, width: int) -> list[tuple[int, int, int]]:
    """Overlapping squares ``(x0, y0, side)`` of side ``min(H, W)`` that cover the frame."""
    side = min(height, width)
    long = max(height, width)
    n = max(1, math.ceil(long / side))
    starts = [0] if n == 1 else [round(i * (long - side) / (n - 1)) for i in range(n)]
    return [(s, 0, side) if width >= height else (0, s, side) for s in starts]


def _as_boxes(b) -> np.ndarray:
    arr = np.asarray(b, dtype=np.float32)
    return arr.reshape(-1, 5) if arr.size else np.zeros((0, 5), np.float32)


class BlazeFace:
    """BlazeFace front (``back=False``, 128 px) or back (256 px) model via face-alignment."""

    def __init__(self, weights: str | Path, anchors: str | Path, back: bool = False, device: str = "cpu", min_score: float = 0.5, engine: str = "torch") -> None:
        from face_alignment.detection.blazeface.net_blazeface import BlazeFace as Net

        self.name = "blazeface-back" if back else "blazeface"
        self.back = back
        self.size = 256 if back else 128
        net = Net(back_model=back)
        state = read_checkpoint(weights, self.name)
        load_strict(net, state, self.name)
        try:
            anchors_arr = np.load(anchors)
        except (OSError, ValueError) as exc:
            raise WeightsLayoutError(f"{self.name}: cannot read anchors {anchors}: {exc}") from exc
        if anchors_arr.shape != (net.num_anchors, 4):
            raise WeightsLayoutError(f"{self.name}: anchors {anchors} have shape {anchors_arr.shape}, expected ({net.num_anchors}, 4)")
        net.load_anchors_from_npy(anchors_arr, device)
        net.min_score_thresh = min_score
        net.min_suppression_threshold = 0.3
        self.net = net.to(device).eval()
        from realsync_build.models.engine import OnnxModule, resolve_engine

        self.engine = resolve_engine(engine, device)
        self._onnx = None
        if self.engine == "onnx":
            example = torch.zeros(1, 3, self.size, self.size)
            self._onnx = OnnxModule(net, [example], ["image"], ["boxes", "scores"], self.name)

    def _predict(self, batch: np.ndarray) -> list:
        """face-alignment's ``predict_on_batch`` (pre-processing, network, decoding, weighted NMS),
        with the network on ONNX Runtime when that engine is chosen."""
        if self._onnx is None:
            return self.net.predict_on_batch(batch)
        x = batch.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0  # the net's _preprocess, in numpy
        raw_boxes, raw_scores = (torch.from_numpy(a) for a in self._onnx(x))
        detections = self.net._tensors_to_detections(raw_boxes, raw_scores, self.net.anchors)
        out = []
        for d in detections:
            faces = self.net._weighted_non_max_suppression(d)
            out.append(torch.stack(faces) if len(faces) > 0 else torch.zeros((0, 17)))
        return out

    def detect(self, frames: np.ndarray) -> list[np.ndarray]:
        import cv2

        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"frames must be (N, H, W, 3) uint8 RGB, got {frames.shape}")
        if len(frames) == 0:
            return []
        n, h, w, _ = frames.shape
        tiles = square_tiles(h, w)
        batch = []
        for frame in frames:
            for x0, y0, side in tiles:
                batch.append(cv2.resize(frame[y0 : y0 + side, x0 : x0 + side], (self.size, self.size), interpolation=cv2.INTER_AREA))
        preds = self._predict(np.stack(batch))
        out = []
        for i in range(n):
            boxes = []
            for t, (x0, y0, side) in enumerate(tiles):
                p = preds[i * len(tiles) + t]
                p = p.cpu().numpy() if torch.is_tensor(p) else np.asarray(p)
                if len(p) == 0:
                    continue
                # BlazeFace rows: ymin, xmin, ymax, xmax (0..1 of the tile), 12 keypoint values, score
                xyxy = np.stack([p[:, 1], p[:, 0], p[:, 3], p[:, 2]], axis=1) * side + np.array([x0, y0, x0, y0])
                boxes.append(np.concatenate([xyxy, p[:, -1:]], axis=1))
            merged = nms(np.concatenate(boxes).astype(np.float32), 0.3) if boxes else np.zeros((0, 5), np.float32)
            if len(merged):
                merged[:, [0, 2]] = merged[:, [0, 2]].clip(0, w)
                merged[:, [1, 3]] = merged[:, [1, 3]].clip(0, h)
            out.append(merged.astype(np.float32))
        return out


def s3fd_layout() -> dict[str, tuple[int, ...]]:
    from face_alignment.detection.sfd.net_s3fd import s3fd

    return {k: tuple(v.shape) for k, v in s3fd().state_dict().items()}


class S3FD:
    """S3FD via face-alignment's ``SFDDetector``, built from a verified local checkpoint."""

    name = "sfd"

    def __init__(self, weights: str | Path, device: str = "cpu", threshold: float = 0.5, trusted: bool = False) -> None:
        from face_alignment.detection.sfd.sfd_detector import SFDDetector

        state = read_checkpoint(weights, "sfd", trusted)
        if not isinstance(state, Mapping):
            raise WeightsLayoutError(f"sfd: expected a state dict in {weights}, got {type(state).__name__}")
        check_layout(s3fd_layout(), state, "sfd")  # a clear message before face-alignment's own strict load
        del state
        # always a local path: without one face-alignment would fetch through torch.hub
        self.detector = SFDDetector(device, path_to_detector=str(weights), filter_threshold=threshold)
        self.device = device

    def detect(self, frames: np.ndarray) -> list[np.ndarray]:
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"frames must be (N, H, W, 3) uint8 RGB, got {frames.shape}")
        if len(frames) == 0:
            return []
        batch = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()  # RGB; face-alignment flips to BGR
        lists = self.detector.detect_from_batch(batch)
        return [_as_boxes(b) for b in lists]
