#!/usr/bin/env bash
# Build the lmms-eval venv: `make lmms-env` runs this (see the Makefile).
#
#   tools/lmms_env/build.sh VENV MAIN_VENV
#
# An overlay on the main venv: VENV's own site-packages hold lmms-eval and what it needs
# beyond the main venv; a .pth adds MAIN_VENV's site-packages after them (with its .pth
# files, so the editable vthinker and its `lmms_eval.models` entry point are seen). The main
# venv's packages are pinned as constraints, so torch, transformers and the rest stay the
# ones vthinker is tested with, except where lmms-eval 0.7 needs other versions:
# av < 16, wandb == 0.25 (and its protobuf < 7), and filelock < 4 (lmms-eval imports
# filelock._api, which filelock 4 removed). Those are installed in VENV and shadow the main
# venv's only there. About 1.1 GB and 1.5 minutes.
set -euo pipefail
venv=${1:?usage: build.sh VENV MAIN_VENV}
main=${2:?usage: build.sh VENV MAIN_VENV}
start=$(date +%s)
rm -rf "$venv"
"$main/bin/python" -m venv "$venv"
main_site=$("$main/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "import site; site.addsitedir('$main_site')" > "$site/vthinker_main_venv.pth"
"$main/bin/python" -m pip freeze --exclude-editable \
  | grep -v -i -E '^(av|wandb|protobuf|filelock)==' > "$venv/main-constraints.txt"
pip=("$venv/bin/python" -m pip --quiet --disable-pip-version-check)
"${pip[@]}" install -c "$venv/main-constraints.txt" "lmms-eval==0.7.3" "filelock<4"
"$venv/bin/python" - <<'PY'
import lmms_eval, torch, transformers, vthinker  # noqa: F401
from lmms_eval.models import MODEL_REGISTRY_V2
resolved = MODEL_REGISTRY_V2.resolve("vthinker")
print(f"lmms-eval model vthinker -> {resolved.class_path}; torch {torch.__version__}, "
      f"transformers {transformers.__version__}")
PY
echo "$venv: $(du -sh "$venv" | cut -f1), built in $(($(date +%s) - start)) s"
