"""Generate the synthetic toy video QA dataset (thin wrapper around `vthinker.data.toy.main`).

Usage: ``python tools/make_toy_data.py --out data/toy [--num-videos N] [--overwrite]``.
"""

from vthinker.data.toy import main

if __name__ == "__main__":
    raise SystemExit(main())
