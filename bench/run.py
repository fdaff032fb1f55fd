"""Entry point: `PYTHONPATH=src python3 bench/run.py --help` (run from the repository root, on a GPU)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench` is a package beside `src`

from bench.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
