"""Wheels the GPU machine's image lacks, small enough to carry (`make gpu-check-prep`).

The device machine has no internet and takes at most 64 MiB with the working tree. Its
image has torch, lightning and peft but not bitsandbytes, decord, jsonargparse or nltk, and
its transformers (5.17) predates the precomputed vision outputs vthinker passes (5.18). The
bitsandbytes wheel (43 MB) holds a library for every CUDA and ROCm release; only the CUDA 13
ones (the image's torch is cu130) and the CPU one are kept, and the wheel's RECORD is
rewritten to match.

    python tools/gpu_wheels.py .whl
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

PACKAGES = ["bitsandbytes", "decord", "jsonargparse", "docstring-parser", "typeshed-client", "nltk"]
KEEP = re.compile(r"libbitsandbytes_(cpu|cuda13\d)\.so$")


def download(out: Path) -> None:
    import transformers

    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
         "--python-version", "3.12", "--platform", "manylinux_2_24_x86_64",
         "--platform", "manylinux2010_x86_64", "-d", str(out),
         *PACKAGES, f"transformers=={transformers.__version__}"],
        check=True,
    )  # fmt: skip


def slim(wheel: Path) -> int:
    """Drop the GPU libraries ``KEEP`` does not match; returns the bytes saved."""
    before = wheel.stat().st_size
    tmp = wheel.with_suffix(".tmp")
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        drop = {
            i.filename
            for i in src.infolist()
            if i.filename.endswith(".so")
            and "libbitsandbytes_" in i.filename
            and not KEEP.search(i.filename)
        }
        for info in src.infolist():
            if info.filename in drop:
                continue
            data = src.read(info)
            if info.filename.endswith(".dist-info/RECORD"):
                lines = data.decode().splitlines()
                data = ("\n".join(x for x in lines if x.split(",")[0] not in drop) + "\n").encode()
            dst.writestr(info, data)
    tmp.replace(wheel)
    return before - wheel.stat().st_size


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".whl")
    out.mkdir(parents=True, exist_ok=True)
    download(out)
    for wheel in out.glob("bitsandbytes-*.whl"):
        print(f"{wheel.name}: {slim(wheel) / 1e6:.1f} MB of other CUDA/ROCm libraries left out")
    total = sum(f.stat().st_size for f in out.glob("*.whl"))
    print(f"{out}: {total / 1e6:.1f} MB of wheels")


if __name__ == "__main__":
    main()
