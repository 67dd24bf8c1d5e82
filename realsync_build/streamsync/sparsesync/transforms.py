"""SparseSync's test-time input transforms, as the reference's ``transform_sequence_test`` defines them.

Each setting and where it comes from (v-iashin/SparseSync ``dataset/transforms.py`` and the
``cfg-22-07-28T15-49-45.yaml`` that ships with the checkpoint):

- video: 25 fps RGB whose short side is 256 px (``data.size_before_crop: 256``; the reference
  re-encodes its videos so; here :func:`realsync_build.streamsync.data.decode_span` scales
  the short side and keeps a centred square), centre crop ``input_size: 224``
  (``RGBSpatialCrop(is_random=False)``: top = round((H - 224) / 2), left = round((W - 224) / 2)),
  ``RGBToFloatToZeroOne`` (/255), ``RGBNormalize`` with ImageNet mean (0.485, 0.456, 0.406)
  and std (0.229, 0.224, 0.225).
- audio: 16 kHz mono, ``AudioSpectrogram(n_fft=512, hop_length=128)`` = torchaudio's
  ``Spectrogram`` defaults otherwise (periodic Hann window of n_fft, centred frames with
  reflect padding, power 2), ``AudioLog`` (log(x + 1e-6)), ``AudioStandardNormalize``
  (per frequency bin over time: (x - mean) / (std + 1e-6), unbiased std),
  ``AudioUnsqueezeChannelDim(0)``.
- windows: ``crop_len_sec: 5`` -> 125 frames and 80000 samples -> a 257 x 626 spectrogram.

Both training and evaluation call :func:`model_inputs` (through the snapshot predictor's
``forward``), so the two cannot drift apart.

:func:`span_audio_input` is the StreamSync code's audio front end (``audio_frontend = "span"``):
its loader (``dataset/sports_and_news.py``) runs the same spectrogram, log and standardisation
once over the whole multi-window audio span (5 s + H x hop), then cuts each window's
``int(5 * 16000 / 128) = 625`` frames from it at frame ``int(start_s * 16000 / 128)``.  So a
window's frames come from the span's STFT (real audio, not reflect padding, at its edges) and are
standardised with the span's per-bin statistics, and a window has 625 frames, not SparseSync's
626 (both give the ResNet's 9 x 20 grid).
"""

from __future__ import annotations

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
N_FFT = 512
HOP_LENGTH = 128
LOG_EPS = 1e-6
NORM_EPS = 1e-6


def video_input(frames: torch.Tensor, input_size: int = 224) -> torch.Tensor:
    """uint8 RGB ``(..., T, H, W, 3)`` -> float ``(..., T, 3, input_size, input_size)``, centre-cropped and normalised."""
    h, w = frames.shape[-3], frames.shape[-2]
    if h < input_size or w < input_size:
        raise ValueError(f"frames of {h}x{w} px are smaller than the {input_size} px crop")
    top, left = int(round((h - input_size) / 2.0)), int(round((w - input_size) / 2.0))
    x = frames[..., top : top + input_size, left : left + input_size, :]
    x = x.movedim(-1, -3).to(torch.float32).div(255.0)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(3, 1, 1)
    # contiguous, as the code's collated batches are: the same convolution kernels, the same rounding
    return ((x - mean) / std).contiguous()


def log_spectrogram(audio: torch.Tensor, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH) -> torch.Tensor:
    """float waveform ``(..., L)`` -> ``log(|STFT|^2 + 1e-6)`` ``(..., n_fft/2+1, 1 + L // hop)``."""
    lead = audio.shape[:-1]
    x = audio.reshape(-1, audio.shape[-1]).to(torch.float32)
    window = torch.hann_window(n_fft, periodic=True, device=x.device)
    spec = torch.stft(x, n_fft, hop_length=hop_length, win_length=n_fft, window=window, center=True, pad_mode="reflect",
                      normalized=False, onesided=True, return_complex=True)
    power = spec.abs().pow(2.0)  # as torchaudio's Spectrogram(power=2): |z| then squared
    return torch.log(power + LOG_EPS).reshape(*lead, *power.shape[-2:])


def audio_input(audio: torch.Tensor, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH) -> torch.Tensor:
    """float waveform ``(N, L)`` in [-1, 1] -> ``(N, 1, n_fft/2+1, 1 + L // hop)``, per-bin standardised."""
    spec = log_spectrogram(audio, n_fft, hop_length)
    mean = spec.mean(dim=-1, keepdim=True)
    std = spec.std(dim=-1, keepdim=True)
    return ((spec - mean) / (std + NORM_EPS)).unsqueeze(-3)


def model_inputs(video: torch.Tensor, audio: torch.Tensor, input_size: int = 224, n_fft: int = N_FFT,
                 hop_length: int = HOP_LENGTH) -> tuple[torch.Tensor, torch.Tensor]:
    """A decoded span cut into windows -> the network's two tensors.

    ``video`` ``(N, T, H, W, 3)`` uint8 (short side already scaled), ``audio`` ``(N, L)`` float32
    -> ``vis (N, T, 3, input_size, input_size)``, ``aud (N, 1, n_fft/2+1, 1 + L // hop)``.
    """
    return video_input(video, input_size), audio_input(audio, n_fft, hop_length)


def span_audio_input(span: torch.Tensor, starts: torch.Tensor, window_samples: int, n_fft: int = N_FFT,
                     hop_length: int = HOP_LENGTH) -> torch.Tensor:
    """The StreamSync code's front end: one audio span -> its windows' standardised log spectrograms.

    ``span`` ``(L,)`` float waveform (the statistics run over all of it); ``starts`` ``(n,)`` each window's
    first sample in the span -> ``(n, 1, n_fft/2+1, window_samples // hop_length)``: the span's log
    spectrogram, standardised per bin over the whole span (unbiased std), cut at frame
    ``start // hop_length`` (the code's ``int(start_s * sr / 128)``).
    """
    spec = log_spectrogram(span[None], n_fft, hop_length)[0]
    spec = (spec - spec.mean(dim=-1, keepdim=True)) / (spec.std(dim=-1, keepdim=True) + NORM_EPS)
    frames = window_samples // hop_length
    first = [int(s) // hop_length for s in starts]
    if max(first) + frames > spec.shape[-1]:
        raise ValueError(f"a window at sample {int(max(starts))} runs past the {span.shape[-1]}-sample span")
    return torch.stack([spec[:, f : f + frames] for f in first]).unsqueeze(1)
