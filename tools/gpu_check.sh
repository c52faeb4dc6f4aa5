#!/usr/bin/env bash
# The GPU check (issue 13), for a lent GPU machine: about 8 minutes.
#   1. the GPU tests (tests/test_gpu.py: SFT/GRPO steps, FSDP with norm clipping and fp32
#      master weights; FSDP on one GPU does not shard) and the rotary-position tests;
#   2. GRPO steps of the Qwen2.5-VL-7B architecture (random weights) in QLoRA and LoRA at the
#      paper's settings (16 frames x 128*28*28 pixels, G 8, 768 completion tokens), with the
#      recipes' precision (bf16-mixed): tokens/s, MFU and peak memory for BENCHMARKS.md.
#      Full fine-tuning with fp32 master weights needs FSDP over several GPUs (16 bytes per
#      parameter, 133 GB for the 7B model): not measured on one GPU.
# Prepare on the development machine (wheels the GPU image lacks or has too old, tools/gpu_wheels.py;
# toy videos it cannot write):
#   make gpu-check-prep
# then run with the device tool from the repository root:
#   run(command="bash tools/gpu_check.sh", carry=[".whl", ".gpu_toy"], timeout_s=600)
# Figures go to $OUT (the device tool's folder) or outputs/gpu_check.
set -u
OUT=${OUT:-outputs/gpu_check}
PY=${PY:-python3}
MODEL=${MODEL:-/tmp/qwen2.5-vl-7b-random}
mkdir -p "$OUT"
export VTHINKER_TEST_TOY=$PWD/.gpu_toy HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
start=$(date +%s)
step() { echo "== $1 ($(( $(date +%s) - start )) s)"; }

step "install"
$PY -m pip install -q --no-index --no-deps --find-links .whl \
  bitsandbytes decord jsonargparse docstring-parser typeshed-client nltk transformers
$PY -m pip install -q --no-deps --no-build-isolation -e . || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/device.csv"
$PY -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" \
  | tee "$OUT/versions.txt"

step "GPU tests, then the rotary-position tests (CPU tests, on this machine's versions)"
timeout 150 $PY -m pytest -q -m gpu -p no:cacheprovider tests/test_gpu.py \
  2>&1 | tail -25 | tee "$OUT/pytest.txt"
timeout 60 $PY -m pytest -q -p no:cacheprovider tests/test_rope.py 2>&1 | tail -5 | tee -a "$OUT/pytest.txt"

for mode in qlora lora; do
  step "7B GRPO, $mode"
  timeout 170 $PY tools/bench.py --json "$OUT/grpo7b_$mode.json" grpo --model-config 7b \
    --device cuda --mode "$mode" --grad-ckpt --frames 16 --max-pixels 100352 \
    --group-size 8 --max-new-tokens 768 --prompts 1 --steps 1 --warmup 1 \
    --toy "$VTHINKER_TEST_TOY/bench" --model "$MODEL" 2>&1 | tail -30 | tee "$OUT/grpo7b_$mode.txt"
done
step "done"
