# vthinker: `make demo` (install + SFT, GRPO and eval demo on CPU), `make test` (install + tests), `make lint`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TINY := outputs/tiny-qwen2.5-vl
TOY := data/toy

.PHONY: install demo demo-siblings test lint format clean

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
	$(BIN)/vthinker test --config configs/demo/eval.yaml \
	  --model.init_args.policy.name_or_path outputs/demo/grpo/hf

# The sibling methods on the tiny model, from the SFT demo (run `make demo` first).
SIBLINGS := rewatch_r1 videop2r videoauto_r1 video_r2 video_r1_tgrpo
demo-siblings: install
	for m in $(SIBLINGS); do $(BIN)/vthinker fit --config configs/demo/$$m.yaml || exit 1; done

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
