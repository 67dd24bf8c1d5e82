"""``realsync annotate``: per clip, speech (silero-vad), shots, face tracks, SyncNet scoring
(VAD-gated, one evaluation per speech-and-face run), scenario labels (talking head /
voice-over / unscored / other, as the paper defines them), AudioSet events and
source-sync QC.  See ``docs/annotate.md``.
"""

from realsync_build.stages.annotate.config import AnnotateConfig

__all__ = ["AnnotateConfig", "run_annotate"]


def run_annotate(*args, **kwargs):
    from realsync_build.stages.annotate.run import run_annotate as _run

    return _run(*args, **kwargs)
