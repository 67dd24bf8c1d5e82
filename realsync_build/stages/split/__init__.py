"""The split stage: video-level splits and evaluation segments (:mod:`.run`), adopting published lists
(:mod:`.adopt`), its one writer (:mod:`.outputs`), and its declaration (:data:`SPEC`)."""

from realsync_build.core.state import SPECS

# the options it records: a drawn split's (split --seed ...), then an adopted one's (split --from-list ...)
DRAWN_PARAMS = (
    "--seed", "--ratios", "--exclude-suspect-sync", "--skip-empty-channels", "--segment-sampling", "--segment-start",
    "--segment-stride", "--segment-window", "--offset-sd", "--offset-zero-share", "--top-events",
)  # fmt: skip
ADOPTED_PARAMS = ("--from-list", "--as", "--role", "--distribution", "--protocol", "--cap", "--loader-seed", "--skip-list")
SPEC = SPECS["split"].complete(params=DRAWN_PARAMS + ADOPTED_PARAMS)
