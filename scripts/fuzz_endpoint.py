"""The full schemathesis run against the embedded endpoint's own swagger, both contracts.

    uv run python scripts/fuzz_endpoint.py [--examples 300] [--seed 20261127]

--examples cases per generation mode (valid and invalid) per contract, so 4 × --examples in all.
Prints the cases run, the statuses seen and every 5xx or non-JSON error; exit 1 if there was any.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzzing import fuzz

from bankscore.server.runner import EmbeddedEndpoint, EndpointConfig, default_model_dir


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=20261127)
    args = parser.parse_args(argv)
    key = secrets.token_urlsafe(32)
    total = server_errors = 0
    problems: list[str] = []
    for contract in ("inputs", "data"):
        config = EndpointConfig(
            model_dir=default_model_dir(), port=0, primary_key=key, access_log=False, envelope=contract
        )
        with EmbeddedEndpoint(config) as endpoint:
            report = fuzz(endpoint.scoring_uri.rsplit("/score", 1)[0], key, args.examples, args.seed)
        statuses = ", ".join(f"{status}: {n}" for status, n in sorted(report.statuses.items()))
        print(f"{contract:>6}: {report.cases:,} cases; statuses {statuses}; 5xx {report.server_errors}")
        total += report.cases
        server_errors += report.server_errors
        problems += report.problems
    print(f"total: {total:,} generated cases, {server_errors} answered 5xx, {len(problems)} problems")
    for problem in problems[:20]:
        print(f"  {problem}")
    print(f"reproduce: uv run python scripts/fuzz_endpoint.py --examples {args.examples} --seed {args.seed}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
