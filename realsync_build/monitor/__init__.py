"""``realsync monitor``: watch a file or a live stream and report its audio/video offset hop by hop.

Modules (one job each):

* :mod:`.source` -- PyAV decoding on the fly (file, ``-``, or any URL ffmpeg opens) to the
  model's fps / sample rate / frame size, in a reader thread; stalls, reconnects, discontinuities.
* :mod:`.windows` -- ring buffers and the hop scheduler (one window ending at each hop).
* :mod:`.model` -- the ONLY module that touches a sync model (mode 1 adapter).
* :mod:`.refdelay` -- mode 2: audio-to-audio delay against a reference track (GCC-PHAT).
* :mod:`.activity` -- silence and black/frozen pictures (no evidence: confidence 0).
* :mod:`.alerts` -- thresholds, persistence and hysteresis.
* :mod:`.outputs` -- JSONL, the live panel, the report (PNG + summary).
* :mod:`.run` -- ties them together.
* :mod:`.synth` -- generated test material (dubbed audio, flash/click streams re-muxed with delays).

Sign convention everywhere in this package: the project's (``streamsync.task``), in ms:
``offset_ms = 1000 * offset_sec``.  ``offset_ms < 0`` means the audio lags the video (sound
after picture; -400 = audio delayed by 0.4 s, class 8), ``offset_ms > 0`` that it leads.
"""
