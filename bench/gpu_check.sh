#!/usr/bin/env bash
# One GPU check for a freshly lent GPU machine: no network, nothing installed beyond the
# project's own files; about 3-4 minutes. Prints each figure and writes them to
# bench/out/gpu_check.md for docs/benchmarks.md and docs/scaling.md.
#
#   bash bench/gpu_check.sh            # from the repository root
#   PYTHON=/path/to/python SECONDS_PER_CHECK=60 bash bench/gpu_check.sh
#
# Needs: the project's venv (torch with CUDA), the shared test folder (REALSYNC_TESTDATA or ../shared/testdata).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-}
if [[ -z "$PY" ]]; then
  for cand in .venv/bin/python ../main/.venv/bin/python python3; do
    if command -v "$cand" >/dev/null 2>&1 || [[ -x "$cand" ]]; then PY=$cand; break; fi
  done
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 PIP_NO_INDEX=1
echo "python: $PY"; nvidia-smi -L 2>/dev/null || echo "nvidia-smi: not found"
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.device_count())"
timeout 290 "$PY" bench/gpu_check.py --device "${DEVICE:-cuda}" --seconds "${SECONDS_PER_CHECK:-60}" --out bench/out/gpu_check.md "$@"
