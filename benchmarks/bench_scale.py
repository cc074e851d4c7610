"""Big files: peak memory of streaming `bankscore score` against file size, and one process vs Dask.

    uv run python benchmarks/bench_scale.py [--sizes 1000000,10000000] [--dask-rows 1000000]

1. `bankscore score BIG.csv -o OUT.csv` (defaults, embedded endpoint) on CSVs of each --sizes rows,
   peak RSS from /usr/bin/time -v, beside the file size and rows/s. Target: ≤ 1 GB at 10,000,000 rows.
2. The first --dask-rows rows, one process vs `--dask local --dask-workers 2`, taking turns; both
   outputs must be byte-identical.
Synthetic rows, written once into benchmarks/out (in 1,000,000-row pieces, so making the file
needs little memory). Exit 1 when a run fails or the outputs differ.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from _common import bankscore_cli
from bench_client import CACHE, DEFAULT_MODEL, PYCACHE, _loopback_env, ensure_model, install_as_default_model, run_score

OUT: Final = Path(__file__).resolve().parent / "out"
PIECE: Final = 1_000_000
TARGET_RSS_MB: Final = 1024


def big_csv(rows: int) -> Path:
    """`rows` synthetic rows as CSV, made piece by piece and kept for the next run."""
    from bankscore.bankmarketing.synthetic import generate

    path = OUT / f"big-{rows}.csv"
    if path.is_file():
        return path
    partial = path.with_name(f".{path.name}.part")
    with partial.open("w") as handle:
        for piece, start in enumerate(range(0, rows, PIECE)):
            frame = generate(min(PIECE, rows - start), seed=1000 + piece, label=False)
            frame.to_csv(handle, index=False, header=piece == 0)
    os.replace(partial, path)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--dask-rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    OUT.mkdir(parents=True, exist_ok=True)
    env = _loopback_env()
    env["BANKSCORE_CACHE_DIR"] = str(install_as_default_model(ensure_model(None)))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    cli = bankscore_cli()
    print(f"model: {DEFAULT_MODEL} (as the default model in {CACHE}); {os.cpu_count()} cores")

    print("\n[1] peak RSS of streaming `bankscore score` (defaults) against file size")
    failed = False
    for rows in sizes:
        source = big_csv(rows)
        target = OUT / f"scored-big-{rows}.csv"
        run = run_score(f"{rows:,} rows", [cli, "score", str(source), "-o", str(target)], rows, env, 120 + rows / 2_000)
        size_mb = source.stat().st_size / 1e6
        rss = f"{run.peak_rss_mb:,.0f} MB" if run.peak_rss_mb is not None else "?"
        verdict = ""
        if rows >= 10_000_000 and run.peak_rss_mb is not None:
            verdict = " PASS" if run.peak_rss_mb <= TARGET_RSS_MB else " FAIL"
        print(
            f"  {rows:>12,} rows  file {size_mb:8,.0f} MB  {run.wall:7.1f} s  {run.rows_per_s:9,.0f} rows/s  "
            f"peak RSS {rss}{verdict}{'  INVALID: ' + '; '.join(run.problems) if run.problems else ''}",
            flush=True,
        )
        failed |= bool(run.problems)
        target.unlink(missing_ok=True)

    print(f"\n[2] {args.dask_rows:,} rows: one process vs --dask local with 2 worker processes")
    source = big_csv(args.dask_rows)
    rates: dict[str, list[float]] = {"one process": [], "dask local x2": []}
    outputs: dict[str, Path] = {}
    for round_ in range(args.rounds):
        for label in list(rates) if round_ % 2 == 0 else list(rates)[::-1]:
            target = OUT / f"scored-{label.replace(' ', '-')}.csv"
            extra = ["--dask", "local", "--dask-workers", "2"] if label.startswith("dask") else []
            run = run_score(
                label,
                [cli, "score", str(source), "-o", str(target), *extra],
                args.dask_rows,
                env,
                120 + args.dask_rows / 1_000,
            )
            if run.problems:
                print(f"  INVALID {label}: {'; '.join(run.problems)}\n{run.stderr[-2000:]}")
                return 1
            rates[label].append(run.rows_per_s)
            outputs[label] = target
            rss = f"{run.peak_rss_mb:,.0f} MB" if run.peak_rss_mb is not None else "?"
            print(
                f"  round {round_ + 1} {label:<14} {run.wall:6.1f} s  {run.rows_per_s:9,.0f} rows/s  "
                f"CPU {run.cpu:.0%}  peak RSS (largest process) {rss}",
                flush=True,
            )
    same = outputs["one process"].read_bytes() == outputs["dask local x2"].read_bytes()
    one, dask = (statistics.median(rates[k]) for k in rates)
    print(
        f"  median: one process {one:,.0f} rows/s, dask local x2 {dask:,.0f} rows/s = {dask / one:.2f}×; "
        f"outputs {'identical' if same else 'DIFFER'}"
    )
    for path in outputs.values():
        path.unlink(missing_ok=True)
    print(
        f"reproduce: uv run python benchmarks/bench_scale.py --sizes {args.sizes} --dask-rows {args.dask_rows} "
        f"--rounds {args.rounds}"
    )
    return 1 if failed or not same else 0


if __name__ == "__main__":
    sys.exit(main())
