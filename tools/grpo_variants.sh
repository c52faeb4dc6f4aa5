#!/usr/bin/env bash
# GRPO vs DAPO vs GSPO vs Dr. GRPO on the CPU miniature (docs/miniature.md), one seed:
#   bash tools/grpo_variants.sh SEED [ARM...]   (after `make miniature`'s data and tiny model)
# Trains the perception and SFT stages with that seed (kept in the seed's folder and reused
# when there), then each variant (default: all four) from the same SFT model on the same 60
# rollout batches (4 prompts x G 8 each; `BatchBudget` counts rollouts, so DAPO's dynamic
# sampling, which spends extra rollouts on some steps, takes fewer optimizer steps), and
# evaluates each on the 228 held-out questions. Each variant is configs/miniature/grpo.yaml with the settings
# its recipe in configs/grpo/ changes (buffers scaled to the miniature's 200 tokens).
# Results: outputs/miniature/variants/seed<SEED>/<arm>.json (+ metrics.csv, times.txt);
# `python tools/grpo_variants_table.py` tabulates every seed found there.
set -euo pipefail
SEED=${1:?usage: tools/grpo_variants.sh SEED [ARM...]}
shift
if [ $# -gt 0 ]; then RUN_ARMS=("$@"); else RUN_ARMS=(grpo dapo gspo dr_grpo); fi
BIN=${BIN:-.venv/bin}
OUT=outputs/miniature/variants/seed$SEED
SFT=$OUT/sft_hf
mkdir -p "$OUT"
G=model.init_args.grpo.init_args
declare -A ARMS=(
  [grpo]=""
  [dapo]="--$G.beta 0 --$G.eps_high 0.28 --$G.loss_type dapo --$G.dynamic_sampling true --$G.max_extra_rollouts 3 --$G.overlong_buffer 40"
  [gspo]="--$G.beta 0 --$G.ratio_level sequence --$G.eps_low 0.0003 --$G.eps_high 0.0004 --$G.loss_type grpo --$G.num_iterations 2"
  [dr_grpo]="--$G.beta 0 --$G.scale_rewards none --$G.loss_type dr_grpo"
)
timed() {  # name, command...
  local name=$1; shift
  local t0; t0=$(date +%s)
  "$@" > "$OUT/$name.log" 2>&1
  echo "$name wall_s=$(( $(date +%s) - t0 ))" >> "$OUT/times.txt"
}
if [ ! -f "$SFT/config.json" ]; then
  timed perception "$BIN/vthinker" fit --config configs/miniature/perception.yaml --seed_everything "$SEED"
  timed sft "$BIN/vthinker" fit --config configs/miniature/sft.yaml --seed_everything "$SEED"
  rm -rf "$SFT" && cp -r outputs/miniature/sft/hf "$SFT"
fi
for arm in "${RUN_ARMS[@]}"; do
  dir=outputs/miniature/variants/run/$arm
  # shellcheck disable=SC2086  # the arm's overrides are words
  timed "fit_$arm" "$BIN/vthinker" fit --config configs/miniature/grpo.yaml --seed_everything "$SEED" \
    --model.init_args.policy.name_or_path "$SFT" --trainer.max_steps -1 --trainer.max_epochs 1 \
    "--trainer.callbacks+=vthinker.training.callbacks.BatchBudget" --trainer.callbacks.max_batches 60 \
    --trainer.default_root_dir "$dir" --trainer.logger.init_args.save_dir "$dir" \
    --model.init_args.export_dir "$dir/hf" ${ARMS[$arm]}
  cp "$(ls -d "$dir"/logs/version_* | sort -t_ -k2 -n | tail -1)/metrics.csv" "$OUT/${arm}_metrics.csv"
done
for arm in sft "${RUN_ARMS[@]}"; do
  model=outputs/miniature/variants/run/$arm/hf
  [ "$arm" = sft ] && model=$SFT
  timed "eval_$arm" "$BIN/vthinker" test --config configs/miniature/eval.yaml \
    --model.init_args.overwrite true --model.init_args.policy.name_or_path "$model" \
    --model.init_args.model_name "variant-$arm"
  cp outputs/miniature/eval/toy-heldout/variant-$arm-24f/summary.json "$OUT/$arm.json"
done
