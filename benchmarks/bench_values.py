"""What reading values by what they mean costs the client, as ratios measured side by side in one run.

The client validates and encodes rows before it sends them (`client.prepare`, no network). Numeric columns that
pass the C-speed type test take the fast path; columns that hold numbers as text, Decimals or numpy scalars take
the slow path, which converts them cell by cell. This times `prepare` on the same synthetic rows in each form,
taking turns, and prints each form's time as a ratio to the plain numeric DataFrame:

    uv run python benchmarks/bench_values.py [--rows 100000] [--rounds 9]

Every form must give the same request body as the plain frame (exit 1 otherwise). Machines are noisy: read the
ratios, not the absolute figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd

from bankscore import ScoringClient, parse_swagger
from bankscore.bankmarketing.schema import COLUMNS
from bankscore.bankmarketing.synthetic import generate

SWAGGER = Path(__file__).resolve().parent.parent / "tests" / "support" / "azureml_peer" / "fixtures"
NUMERIC = [c.name for c in COLUMNS if c.type in ("int64", "double")]


def forms(frame: pd.DataFrame) -> dict[str, Callable[[], Any]]:
    """Each form made once, outside the timing; the callables hand it over."""
    text = frame.astype(dict.fromkeys(NUMERIC, str)).astype(dict.fromkeys(NUMERIC, object))
    decimals = frame.copy()
    for name in NUMERIC:
        decimals[name] = [Decimal(str(v)) for v in frame[name].tolist()]
    made: dict[str, Any] = {
        "numeric DataFrame (fast path)": frame,
        "list of dicts": frame.to_dict(orient="records"),
        "pandas nullable dtypes": frame.convert_dtypes(),
        "numbers as text (object)": text,
        "numbers as Decimal": decimals,
    }
    return {name: (lambda value=value: value) for name, value in made.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args(argv)
    contract = parse_swagger(json.loads((SWAGGER / "swagger_gen_b.json").read_text()))
    client = ScoringClient("http://127.0.0.1:9/score", swagger=contract)
    frame = generate(args.rows, seed=3, label=False)
    cases = forms(frame)
    expected = client.prepare(frame).body
    for name, make in cases.items():
        if client.prepare(make()).body != expected:
            print(f"FAILED: {name} does not give the plain frame's body")
            return 1
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):  # taking turns, so drift hits every form alike
        for name, make in cases.items():
            rows = make()
            started = time.perf_counter()
            client.prepare(rows)
            times[name].append(time.perf_counter() - started)
    base = statistics.median(times["numeric DataFrame (fast path)"])
    print(f"client.prepare of {args.rows:,} rows, median of {args.rounds} rounds, taking turns")
    print(f"{'form':34} {'ms':>8} {'÷ numeric':>10}")
    for name, measured in times.items():
        median = statistics.median(measured)
        print(f"{name:34} {median * 1000:8.1f} {median / base:10.2f}")
    client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
