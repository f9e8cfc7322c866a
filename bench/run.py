"""Full benchmark run: writes docs/benchmarks.md and docs/bench.png.

    pip install '.[bench]' && python bench/run.py [--quick]
"""
from __future__ import annotations

import sys
from pathlib import Path

from uipc.cli.bench import main

ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] + ["--write", str(ROOT / "docs" / "benchmarks.md"),
                                  "--plot", str(ROOT / "docs" / "bench.png")]))
