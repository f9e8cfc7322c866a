"""`uipc bench [--quick] [--json] [--plot FILE] [--write]`: measure uipc against
the kernel, multiprocessing, Redis and the floors, side by side."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="uipc bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer iterations (about a minute)")
    p.add_argument("--rounds", type=int, help="interleaved rounds (best of)")
    p.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    p.add_argument("--plot", metavar="FILE", help="write a PNG plot (needs matplotlib)")
    p.add_argument("--write", metavar="MARKDOWN", help="write the table to this file")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from uipc.bench.run import plot, render_markdown, run_all, to_json
    res = run_all(quick=args.quick, rounds=args.rounds,
                  log=lambda s: print(f"uipc bench: {s}", file=sys.stderr))
    text = render_markdown(res)
    print(to_json(res) if args.json else text)
    if args.write:
        Path(args.write).write_text(text)
    if args.plot and not plot(res, args.plot):
        print("uipc bench: matplotlib is not installed: pip install 'uipc[bench]'", file=sys.stderr)
        return 1
    return 0
