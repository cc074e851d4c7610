"""`client.explain` through Microsoft's inference server running an AutoML v1 explainer-shaped score script.

The script (tests/support/azureml_peer/score_explain.py) has no schema decorators, so its swagger describes no
input: the client says so, and with a saved swagger of the model it explains through the bare-records request,
naming the features from that contract. The numbers must be the embedded endpoint's for the same model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bankscore import ContractError, ResponseDecodeError, ScoringClient
from bankscore.bankmarketing.schema import COLUMN_NAMES
from bankscore.bankmarketing.synthetic import generate
from bankscore.explanations import BASE_COLUMN
from tests.support.common import PRIMARY

pytestmark = pytest.mark.xdist_group("peer")  # with the other tests of the peers: gen_explain starts once

ROWS = generate(60, seed=4, label=False)


@pytest.fixture
def saved_swagger() -> Path:
    """The model's scoring deployment's swagger (Microsoft's server, gen B), saved beside the explainer: its columns
    name the explainer's raw features."""
    return Path(__file__).resolve().parents[1] / "support" / "azureml_peer" / "fixtures" / "swagger_gen_b.json"


def test_the_client_explains_through_microsofts_server(gen_explain: Any, endpoint: Any, saved_swagger: Path) -> None:
    with ScoringClient(gen_explain.scoring_uri) as bare, pytest.raises(ContractError, match="no input schema"):
        bare.contract  # noqa: B018 - the generic template names no columns
    with ScoringClient(gen_explain.scoring_uri, swagger=saved_swagger, batch_rows=25) as client:
        through_peer = client.explain(ROWS, top=2)
        with pytest.raises(ResponseDecodeError, match="20 values per row but 19 features"):
            client.explain(ROWS.head(3), features=list(COLUMN_NAMES)[:19])
    with ScoringClient(endpoint.scoring_uri, key=PRIMARY) as ours:
        expected = ours.explain(ROWS, top=2)
    assert through_peer["prediction"].tolist() == expected["prediction"].tolist()
    np.testing.assert_allclose(through_peer[list(COLUMN_NAMES)], expected[list(COLUMN_NAMES)], atol=1e-9)
    assert through_peer["reason_1"].tolist() == expected["reason_1"].tolist()
    assert through_peer["proba_yes"].isna().all() and through_peer[BASE_COLUMN].isna().all()  # not in its answer
