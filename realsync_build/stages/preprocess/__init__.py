"""``realsync preprocess``: sources -> standardised clips (25 fps, 256 px short side, 16 kHz mono).

:mod:`.run` cuts the clips (one ffmpeg run per source and group of clips), :mod:`.progress`
reports per media second and per clip, :mod:`.sources` registers ``--input`` files.
"""

from realsync_build.stages.preprocess.run import SPEC, NoSources, PreprocessConfig, run_preprocess
from realsync_build.stages.preprocess.sources import discover_sources, register_local_sources

__all__ = ["SPEC", "NoSources", "PreprocessConfig", "discover_sources", "register_local_sources", "run_preprocess"]
