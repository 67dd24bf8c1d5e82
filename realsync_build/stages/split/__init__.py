"""The split stage: video-level splits, evaluation segments, its input reader and the published lists."""
