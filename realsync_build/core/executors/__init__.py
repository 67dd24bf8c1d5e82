"""Executors: map a stage's per-item function over pending items (local process pool, inline, Ray)."""
