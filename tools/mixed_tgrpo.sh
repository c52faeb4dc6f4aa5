#!/usr/bin/env bash
# T-GRPO on video questions only vs on image + video questions (Video-R1's mix), CPU toy demo,
# one seed:   bash tools/mixed_tgrpo.sh SEED
# Needs `make demo-siblings` (the video_r1_tgrpo format SFT, the start of both arms) and the
# toy mixed release (`vthinker make-toy-data --out data/toy_mixed --trace-style think
# --image-questions 200`). Both arms run the video_r1_tgrpo demo recipe (80 steps, 2
# questions per step, G 8) with the seed; "videos" trains on the mixed release's video
# questions only (data_types: [video]), "mixed" on all of it. The SFT start (once) and each
# arm are evaluated greedily on the 120 held-out questions (80 video, 40 image) of
# configs/demo/eval_mixed.yaml. Results: outputs/demo/mixed_tgrpo/seed<SEED>/<arm>/summary.json;
# `python tools/mixed_tgrpo_table.py` tabulates every seed found there.
set -euo pipefail
SEED=${1:?usage: tools/mixed_tgrpo.sh SEED}
BIN=${BIN:-.venv/bin}
OUT=outputs/demo/mixed_tgrpo
SFT=outputs/demo/video_r1_tgrpo_sft/hf
mkdir -p "$OUT/seed$SEED"
evaluate() {  # model, name
  local dir=$OUT/eval/$2
  "$BIN/vthinker" test --config configs/demo/eval_mixed.yaml --model.init_args.overwrite true \
    --model.init_args.policy.name_or_path "$1" --model.init_args.out_dir "$dir" \
    --trainer.default_root_dir "$dir" > "$dir.log" 2>&1
  find "$dir" -name summary.json | head -1
}
mkdir -p "$OUT/eval"
if [ ! -f "$OUT/sft/summary.json" ]; then
  mkdir -p "$OUT/sft" && cp "$(evaluate "$SFT" sft)" "$OUT/sft/summary.json"
fi
for arm in videos mixed; do
  run=$OUT/run/$arm
  types=$([ "$arm" = videos ] && echo "[video]" || echo "[video, image]")
  t0=$(date +%s)
  "$BIN/vthinker" fit --config configs/demo/video_r1_tgrpo_mixed.yaml --seed_everything "$SEED" \
    --data.init_args.train_source.init_args.data_types "$types" \
    --trainer.default_root_dir "$run" --trainer.logger.init_args.save_dir "$run" \
    --model.init_args.export_dir "$run/hf" > "$OUT/seed$SEED/$arm.fit.log" 2>&1
  echo "$arm fit wall_s=$(( $(date +%s) - t0 ))" >> "$OUT/seed$SEED/times.txt"
  mkdir -p "$OUT/seed$SEED/$arm"
  cp "$(evaluate "$run/hf" "seed$SEED-$arm")" "$OUT/seed$SEED/$arm/summary.json"
done
