"""Hindsight curation from a checkout: the same as ``vthinker curate``.

    python tools/curate.py --config configs/curation/local.yaml

See `vthinker.curation.runner` for what it writes and how resuming works.
"""

from __future__ import annotations

import sys

from vthinker.curation.runner import main

if __name__ == "__main__":
    sys.exit(main())
