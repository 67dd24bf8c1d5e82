"""The split stage: video-level splits and evaluation segments (:mod:`.run`), adopting published lists (:mod:`.adopt`)."""
