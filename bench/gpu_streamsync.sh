#!/usr/bin/env bash
# One GPU run for docs/benchmarks.md ("train, GPU"): under 5 minutes on one modern GPU.
#  1. ms per streaming iteration at batch 1: snapshot predictor alone, + LSTM head, + trf head (base config)
#  2. base config training windows/s in bf16 at batch 16 (phase 1 and phase 2), loader windows/s with 8 workers
#  3. a 2-step bf16 + fp16 smoke run of `realsync train --device cuda` on generated shards
# Usage: bash bench/gpu_streamsync.sh   (from the repository root; writes bench-gpu.log)
set -euo pipefail
PY=${PY:-python}
LOG=${LOG:-bench-gpu.log}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$LOG"
timeout 90  $PY bench/train.py --config base --device cuda --precision bf16 --cost-only --cost-repeats 30 | tee -a "$LOG"
timeout 150 $PY bench/train.py --config base --device cuda --precision bf16 --batch 16 --steps 3 --batches 6 --workers 8 --threads 8 | tee -a "$LOG"
TMP=$(mktemp -d)
$PY - "$TMP" <<'PYEOF'
import sys
from pathlib import Path
from realsync_build.core.root import DatasetRoot
from realsync_build.streamsync.synthetic import write_shard_dataset
write_shard_dataset(DatasetRoot(Path(sys.argv[1]) / "data"), splits={"train": 2, "dev": 1}, duration_s=30.0, seed=0)
PYEOF
for p in bf16 fp16; do
  timeout 60 $PY -m realsync_build train --root "$TMP/data" --out "$TMP/run-$p" --device cuda --precision $p --max-steps 2 \
    --batch-size 2 -H 4 -K 2 --phase1-steps 1 --no-progress | tail -1 | tee -a "$LOG"
done
