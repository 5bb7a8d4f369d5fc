"""``python -m eventpulse.demo --out DIR [--rows N] [--seed S]``: write every demo case."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from eventpulse.demo.generator import MAX_ROWS, write_all


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m eventpulse.demo",
        description="Write deterministic demo files (every dataset x case x format) into a folder.",
    )
    parser.add_argument("--out", type=Path, required=True, help="folder to write into (created if missing)")
    parser.add_argument(
        "--rows", type=int, default=200, help=f"data rows per file, 1..{MAX_ROWS:,} (default 200)"
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the demo generator CLI; return the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        paths = write_all(args.out, rows=args.rows, seed=args.seed)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
