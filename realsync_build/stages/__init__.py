"""The pipeline's stages, each over the dataset root: fetch, preprocess, annotate, split, export, stats."""
