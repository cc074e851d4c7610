"""Generated requests against the embedded endpoint's own swagger, both contracts: no 5xx, errors as JSON."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.common import PRIMARY
from tests.support.fuzzing import fuzz

EXAMPLES = 60  # per generation mode; scripts/fuzz_endpoint.py runs 1,000+ cases


@pytest.mark.parametrize("contract", ["inputs", "data"])
def test_generated_requests_never_get_a_5xx(start_endpoint: Any, contract: str) -> None:
    endpoint = start_endpoint(envelope=contract)
    report = fuzz(endpoint.scoring_uri.rsplit("/score", 1)[0], PRIMARY, EXAMPLES, fuzz_seed=20261127)
    assert report.cases >= EXAMPLES, report.cases
    assert report.problems == [], "\n".join(report.problems[:10])
    assert report.server_errors == 0
    assert any(400 <= status < 500 for status in report.statuses), "invalid bodies were generated and refused"
    assert 200 in report.statuses, "valid bodies were generated and scored"
