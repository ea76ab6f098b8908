#!/usr/bin/env bash
# The GPU data point of the speed benchmark (issue: speed benchmark, item 4), for a short stretch on one GPU.
#
# Runs offline: replicas of all six Ettin sizes (built on the GPU box, nothing downloaded), the blog's four ablation
# configs (fp32-sdpa, bf16-sdpa, bf16-fa2-padded, bf16-fa2-unpadded; the two FA2 configs are reported as skipped with a
# reason when flash-attn is not importable there) plus the plain CrossEncoder.predict baseline for each size, and writes
# eval/results/speed/<gpu>_<UTC time>.json (or $OUT/speed_gpu.json when $OUT is set, e.g. on a lent device machine).
# Commit the JSON as a measured data point; no test depends on it.
#
# Usage:  bash eval/gpu_speed.sh            # all six sizes
#         SIZES=17m,32m bash eval/gpu_speed.sh
# Budget: about 5-8 minutes on an H100 for all six sizes with the defaults below (replica building included).
set -euo pipefail
cd "$(dirname "$0")/.."

export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export ETTIN_CACHE="${ETTIN_CACHE:-$PWD/.cache/ettin}"
mkdir -p .cache
SIZES="${SIZES:-17m,32m,68m,150m,400m,1b}"
N_PAIRS="${N_PAIRS:-2048}"
MAX_BATCH="${MAX_BATCH:-1024}"

python - <<'PY'
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "gpu", torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
try:
    import flash_attn
    print("flash_attn", flash_attn.__version__)
except ImportError:
    print("flash_attn not importable: the two FA2 configs will be reported as skipped")
PY

args=(speed --models "$SIZES" --replica --device cuda --n-pairs "$N_PAIRS" --max-batch "$MAX_BATCH"
      --configs fp32-sdpa,bf16-sdpa,bf16-fa2-padded,bf16-fa2-unpadded
      --backends none --gate-model none)  # the exported backends (ONNX Runtime, OpenVINO) are CPU-only
if [[ -n "${OUT:-}" ]]; then
  args+=(--output "$OUT/speed_gpu.json")
fi
python -m eval "${args[@]}" 2>&1 | tee "${OUT:-.cache}/gpu_speed.log"
