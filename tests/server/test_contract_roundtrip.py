"""The embedded endpoint's own swagger, as the client reads it: its contract carries generated rows exactly.

The strategies and checks are the client's property tests' (tests/client/test_properties.py); this one needs
the server wing's `swagger_v2` and a trained model, so it lives with the server tests.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bankscore.contract import parse_swagger
from bankscore.encoding import encode
from bankscore.server.model import Model
from bankscore.server.swagger import swagger_v2
from bankscore.validation import to_table
from tests.client.test_properties import FEW, assert_rows_equal, rows_for, sent_rows


@FEW
@given(data=st.data())
def test_the_embedded_endpoints_own_contract_round_trips(model: Model, data: st.DataObject) -> None:
    contract = parse_swagger(swagger_v2(model, "inputs"))
    assert contract.envelope == "inputs"
    assert {c.type for c in contract.columns} == {"int64", "double", "string"}
    rows = data.draw(rows_for(contract, max_size=5))
    table = to_table([dict(r) for r in rows], contract)
    assert_rows_equal(sent_rows(encode(table, contract, "predict"), contract), rows)
