#!/usr/bin/env python3
"""Print ringio's criterion benches against tokio's as a markdown table.

Reads criterion's results, <criterion dir>/<group>/<variant>/<baseline>/estimates.json
(and benchmark.json beside it for the group and variant names), and prints one row
per group that has both a `ringio` and a `tokio` variant:

    benchmark | ringio median | tokio median | ringio/tokio

The medians are criterion's point estimates of the median time per iteration; the
ratio is ringio's time over tokio's, so below 1 means ringio is faster.

    cargo bench -p ringio-benches
    python3 ci/bench-table.py --label "driver: io_uring"

    RINGIO_DRIVER=epoll cargo bench -p ringio-benches -- --save-baseline epoll
    python3 ci/bench-table.py --baseline epoll --label "driver: epoll"

Exits with status 1 if no group has both variants.
"""

import argparse
import json
import os
import sys
from pathlib import Path

RINGIO = "ringio"
TOKIO = "tokio"


def default_criterion_dir() -> Path:
    """$CARGO_TARGET_DIR/criterion, or target/criterion at the repository root."""
    target = os.environ.get("CARGO_TARGET_DIR")
    if target:
        return Path(target) / "criterion"
    return Path(__file__).resolve().parent.parent / "target" / "criterion"


def read_medians(criterion_dir: Path, baseline: str) -> dict[str, dict[str, float]]:
    """{group: {variant: median ns}} for every benchmark that has `baseline` results."""
    groups: dict[str, dict[str, float]] = {}
    for estimates in sorted(criterion_dir.glob(f"*/*/{baseline}/estimates.json")):
        run_dir = estimates.parent
        # Directory names are sanitised ids; benchmark.json has the real ones.
        group, variant = run_dir.parent.parent.name, run_dir.parent.name
        meta = run_dir / "benchmark.json"
        if meta.is_file():
            info = json.loads(meta.read_text())
            if info.get("value_str") is not None:
                continue  # a parameterised benchmark: not a ringio/tokio pair
            group = info.get("group_id", group)
            variant = info.get("function_id") or variant
        median = json.loads(estimates.read_text())["median"]["point_estimate"]
        groups.setdefault(group, {})[variant] = float(median)
    return groups


def fmt_time(ns: float) -> str:
    """A time in ns, in the unit that keeps it between 1 and 1000."""
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}" if ns / scale < 100 else f"{ns / scale:.1f} {unit}"
    return f"{ns:.3g} ns" if ns < 100 else f"{ns:.1f} ns"


def table(groups: dict[str, dict[str, float]]) -> list[str]:
    """The markdown rows, header first; only the header if no group has both variants."""
    lines = [
        "| benchmark | ringio median | tokio median | ringio/tokio |",
        "|---|---:|---:|---:|",
    ]
    for group in sorted(groups):
        variants = groups[group]
        if RINGIO not in variants or TOKIO not in variants:
            continue
        ringio, tokio = variants[RINGIO], variants[TOKIO]
        lines.append(f"| {group} | {fmt_time(ringio)} | {fmt_time(tokio)} | {ringio / tokio:.2f} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", help="a caption line printed above the table, e.g. the driver")
    parser.add_argument(
        "--criterion-dir",
        type=Path,
        default=default_criterion_dir(),
        help="criterion's output directory (default: %(default)s)",
    )
    parser.add_argument(
        "--baseline",
        default="new",
        help="which results: `new` (the latest run, default) or a --save-baseline name",
    )
    args = parser.parse_args()

    if not args.criterion_dir.is_dir():
        print(f"bench-table: no criterion results in {args.criterion_dir}", file=sys.stderr)
        return 1
    lines = table(read_medians(args.criterion_dir, args.baseline))
    if len(lines) == 2:
        print(
            f"bench-table: no group in {args.criterion_dir} has both `{RINGIO}` and "
            f"`{TOKIO}` results under `{args.baseline}`",
            file=sys.stderr,
        )
        return 1
    if args.label:
        print(args.label)
        print()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
