"""ScoringClient and AsyncScoringClient against the embedded endpoint over real HTTP.

Every test that makes a client runs twice, once per client (`make_client`); results are checked against
what the endpoint answers to plain requests (`reference`), so no model is needed in this process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pandas as pd
import pytest

import bankscore
from bankscore import (
    APITimeoutError,
    AsyncScoringClient,
    AuthenticationError,
    BankscoreError,
    ContractError,
    InputValidationError,
    ModelError,
    ServiceUnavailableError,
)
from bankscore.bankmarketing.schema import COLUMN_NAMES, SAMPLE_ROWS
from bankscore.bankmarketing.synthetic import generate
from tests.support.common import PRIMARY, SECONDARY, free_port

if TYPE_CHECKING:
    from tests.client.conftest import Reference
    from tests.support.twins import ClientFactory


def frame(n: int, seed: int = 21) -> pd.DataFrame:
    return generate(n, seed=seed, label=False)


@pytest.fixture
def client(endpoint: Any, make_client: ClientFactory) -> Any:
    with make_client(endpoint.scoring_uri, key=PRIMARY) as c:
        yield c


# ----------------------------------------------------------------------------------------- results


def test_predict_dataframe_matches_the_endpoint_and_keeps_the_index(
    client: Any, endpoint: Any, reference: Reference
) -> None:
    rows = frame(2_500)
    rows.index = pd.Index([f"cust-{i}" for i in range(len(rows))], name="customer")
    labels = client.with_options(batch_rows=300, concurrency=3).predict(rows)
    assert labels.index.equals(rows.index)
    assert labels.name == "prediction"
    assert labels.tolist() == reference.predict(endpoint, rows)


def test_predict_proba_has_one_column_per_class(client: Any, endpoint: Any, reference: Reference) -> None:
    rows = frame(400)
    proba = client.predict_proba(rows)
    assert list(proba.columns) == ["no", "yes"]
    assert proba.index.equals(rows.index)
    np.testing.assert_allclose(proba.to_numpy(), reference.predict_proba(endpoint, rows), rtol=1e-12)


def test_batched_concurrent_predict_and_proba_match_the_endpoint(
    make_client: ClientFactory, endpoint: Any, reference: Reference
) -> None:
    rows = frame(1_200, seed=2)
    with make_client(endpoint.scoring_uri, key=PRIMARY, batch_rows=150, concurrency=4) as client:
        labels = client.predict(rows)
        proba = client.predict_proba(rows.head(20))
        healthy = client.health()
    assert labels.tolist() == reference.predict(endpoint, rows)
    np.testing.assert_allclose(proba.to_numpy(), reference.predict_proba(endpoint, rows.head(20)), rtol=1e-12)
    assert healthy


def test_list_of_dicts_and_row_models_give_the_same_answers(client: Any) -> None:
    rows = frame(30)
    records = rows.to_dict(orient="records")
    models = [client.row_model.model_validate(r) for r in records]
    by_frame = client.predict(rows).tolist()
    assert client.predict(records).tolist() == by_frame
    assert client.predict(models).tolist() == by_frame


def test_row_model_uses_aliases_for_dotted_names(client: Any) -> None:
    Row = client.row_model
    assert Row.model_fields["emp_var_rate"].alias == "emp.var.rate"
    row = Row(**{**SAMPLE_ROWS[0], "emp.var.rate": -1.8})
    assert row.model_dump(by_alias=True) == SAMPLE_ROWS[0]
    by_name = Row(**{k.replace(".", "_"): v for k, v in SAMPLE_ROWS[0].items()})
    assert by_name == row


def test_gen_a_contract_is_spoken_too(make_client: ClientFactory, data_endpoint: Any, reference: Reference) -> None:
    rows = frame(700)
    with make_client(data_endpoint.scoring_uri, key=SECONDARY, batch_rows=250) as client:
        assert client.contract.envelope == "data"
        labels = client.predict(rows).tolist()
        proba = client.predict_proba(rows).to_numpy()
    assert labels == reference.predict(data_endpoint, rows, envelope="data", key=SECONDARY)
    np.testing.assert_allclose(
        proba, reference.predict_proba(data_endpoint, rows, envelope="data", key=SECONDARY), rtol=1e-12
    )


def test_results_stay_in_order_with_many_small_concurrent_batches(
    client: Any, endpoint: Any, reference: Reference
) -> None:
    rows = frame(5_000, seed=8)
    labels = client.with_options(batch_rows=97, concurrency=8).predict(rows)
    assert labels.tolist() == reference.predict(endpoint, rows)


def test_byte_budget_splits_batches(make_client: ClientFactory, endpoint: Any, reference: Reference) -> None:
    rows = frame(1_000)
    with make_client(endpoint.scoring_uri, key=PRIMARY, batch_rows=1_000, max_batch_bytes=20_000) as client:
        seen: list[int] = []
        labels = client.predict(rows, progress=lambda done, total: seen.append(done))
    assert labels.tolist() == reference.predict(endpoint, rows)
    assert len(seen) > 10, "1,000 rows of ~450 bytes in 20 kB bodies take many requests"
    assert sorted(seen) == seen and seen[-1] == 1_000


def test_413_from_the_server_halves_the_batch(
    make_client: ClientFactory, start_endpoint: Any, reference: Reference
) -> None:
    tight = start_endpoint(max_body_bytes=30_000)
    rows = frame(600)
    with make_client(tight.scoring_uri, key=PRIMARY, batch_rows=600) as client:
        labels = client.predict(rows).tolist()
    assert labels == reference.predict(tight, rows, chunk=40)  # 40 rows fit in 30 kB


def test_swagger_from_file_and_dict(make_client: ClientFactory, endpoint: Any, tmp_path: Path) -> None:
    document = httpx.get(endpoint.base_url + "/swagger.json").json()
    path = tmp_path / "swagger.json"
    path.write_text(json.dumps(document))
    for source in (path, str(path), document):
        with make_client(endpoint.scoring_uri, key=PRIMARY, swagger=source) as client:
            assert client.contract.column_names == COLUMN_NAMES
            assert client.predict([dict(SAMPLE_ROWS[0])]).iloc[0] in ("yes", "no")


def test_endpoint_without_score_suffix_and_env_key(
    make_client: ClientFactory, endpoint: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BANKSCORE_KEY", PRIMARY)
    with make_client(endpoint.base_url) as client:
        assert client.endpoint.endswith("/score")
        assert client.health() is True
        assert len(client.predict([dict(SAMPLE_ROWS[1])])) == 1


def test_health_is_false_when_nothing_listens(make_client: ClientFactory) -> None:
    with make_client(f"http://127.0.0.1:{free_port()}/score", swagger={}) as client:
        assert client.health() is False


# ------------------------------------------------------------------------------------ validation


def test_validation_names_row_column_value_and_expected_before_sending(client: Any) -> None:
    rows = frame(10)
    rows.index = pd.RangeIndex(100, 110)
    rows = rows.astype({"age": object, "euribor3m": float})
    rows.loc[103, "age"] = "forty"
    rows.loc[107, "euribor3m"] = np.nan
    with pytest.raises(InputValidationError) as caught:
        client.predict(rows)
    problems = {(p.row, p.column) for p in caught.value.problems}
    assert problems == {(103, "age"), (107, "euribor3m")}
    message = str(caught.value)
    assert "row 103, column 'age': 'forty' (expected a whole number)" in message
    assert "row 107, column 'euribor3m'" in message and "empty" in message


def test_missing_and_extra_columns(client: Any) -> None:
    rows = frame(5)
    with pytest.raises(InputValidationError, match="'pdays'"):
        client.predict(rows.drop(columns="pdays"))
    with pytest.raises(InputValidationError, match="customer_id"):
        client.predict(rows.assign(customer_id=range(5)))
    labels = client.predict(rows.assign(customer_id=range(5)), extra_columns="ignore")
    assert len(labels) == 5


def test_problem_list_is_capped_with_a_count(client: Any) -> None:
    rows = frame(300).astype({"campaign": float})
    rows["campaign"] = 1.5
    with pytest.raises(InputValidationError) as caught:
        client.predict(rows)
    assert caught.value.total == 300
    assert "... and 290 more" in str(caught.value)


def test_whole_floats_in_int_columns_are_accepted(client: Any, endpoint: Any, reference: Reference) -> None:
    rows = frame(50)
    floats = rows.astype({"age": float, "duration": float})
    assert client.predict(floats).tolist() == reference.predict(endpoint, rows)


def test_non_rows_are_a_type_error(client: Any) -> None:
    with pytest.raises(TypeError, match="DataFrame"):
        client.predict("age,job\n1,x")
    with pytest.raises(InputValidationError, match="mapping"):
        client.predict([dict(SAMPLE_ROWS[0]), 42])


# ---------------------------------------------------------------------------------------- errors


def test_wrong_key_is_an_authentication_error_without_the_key(make_client: ClientFactory, endpoint: Any) -> None:
    with make_client(endpoint.scoring_uri, key="not-the-key") as client, pytest.raises(AuthenticationError) as caught:
        client.predict([dict(SAMPLE_ROWS[0])])
    error = caught.value
    assert error.status_code == 401
    assert error.client_request_id and error.request_id
    assert "not-the-key" not in str(error) and "not-the-key" not in repr(error.__dict__)
    assert isinstance(error, BankscoreError)


def test_stale_primary_falls_back_to_the_secondary_once(
    make_client: ClientFactory, endpoint: Any, reference: Reference
) -> None:
    rows = frame(40)
    with make_client(endpoint.scoring_uri, key="rotated-away", secondary_key=SECONDARY, batch_rows=10) as client:
        assert client.predict(rows).tolist() == reference.predict(endpoint, rows)
        assert "rotated-away" not in repr(client)


def test_injected_429_with_retry_after_is_survived(
    make_client: ClientFactory, start_endpoint: Any, endpoint: Any, reference: Reference, caplog: Any
) -> None:
    flaky = start_endpoint(fault_rate=0.4, faults=(429, 503), retry_after=0.05, fault_seed=5)
    rows = frame(3_000, seed=4)
    caplog.set_level(logging.INFO, logger="bankscore")
    with make_client(flaky.scoring_uri, key=PRIMARY, batch_rows=100, max_retries=10) as client:
        labels = client.predict(rows)
    assert labels.tolist() == reference.predict(endpoint, rows)  # the same model, without the faults
    retries = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert retries, "attempts are visible in the log"
    assert any("HTTP 429" in r.getMessage() for r in retries)
    assert all(PRIMARY not in r.getMessage() for r in caplog.records)


def test_retries_and_key_rotation_together(
    make_client: ClientFactory, start_endpoint: Any, endpoint: Any, reference: Reference
) -> None:
    flaky = start_endpoint(fault_rate=0.3, faults=(502, 504), fault_seed=2)
    rows = frame(800)
    client = make_client(flaky.scoring_uri, key="old", secondary_key=SECONDARY, batch_rows=80, max_retries=15)
    try:
        labels = client.predict(rows).tolist()
    finally:
        client.close()
    assert labels == reference.predict(endpoint, rows)  # the same model, without the faults


def test_always_503_gives_up_within_the_deadline(make_client: ClientFactory, start_endpoint: Any) -> None:
    down = start_endpoint(fault_rate=1.0, faults=(503,), retry_after=0.2)
    started = time.monotonic()
    with (
        make_client(down.scoring_uri, key=PRIMARY, max_retries=100, deadline=1.0) as client,
        pytest.raises(ServiceUnavailableError) as caught,
    ):
        client.predict([dict(SAMPLE_ROWS[0])])
    assert time.monotonic() - started < 3.0
    assert "gave up after" in str(caught.value) and caught.value.status_code == 503


def test_latency_beyond_the_timeout_is_a_timeout_error(make_client: ClientFactory, start_endpoint: Any) -> None:
    slow = start_endpoint(latency_ms=500)
    with (
        make_client(slow.scoring_uri, key=PRIMARY, timeout=0.1, max_retries=1) as client,
        pytest.raises(APITimeoutError) as caught,
    ):
        client.predict([dict(SAMPLE_ROWS[0])])
    assert "gave up after 2 attempts" in str(caught.value)


@pytest.mark.parametrize("contract", ["inputs", "data"])
def test_model_errors_are_not_retried(
    make_client: ClientFactory, start_endpoint: Any, contract: str, caplog: Any
) -> None:
    broken = start_endpoint(envelope=contract, fault_rate=1.0, faults=("model-error",))
    caplog.set_level(logging.INFO, logger="bankscore")
    with make_client(broken.scoring_uri, key=PRIMARY) as client, pytest.raises(ModelError) as caught:
        client.predict([dict(SAMPLE_ROWS[0])])
    assert caught.value.rows == (0, 1)
    assert not [r for r in caplog.records if "retrying" in r.getMessage()]


def test_unreachable_swagger_is_a_contract_error(make_client: ClientFactory) -> None:
    with (
        make_client(f"http://127.0.0.1:{free_port()}/score", key="k") as client,
        pytest.raises(ContractError, match="can't fetch the swagger"),
    ):
        _ = client.contract


def test_bad_endpoint_url(make_client: ClientFactory) -> None:
    with pytest.raises(ContractError, match="not an http"):
        make_client("ftp://example/score")


# ----------------------------------------------------------------------------------------- async alone


def test_async_with_loads_the_contract_and_aclose_ends_the_client(endpoint: Any) -> None:
    """What only the async client has: `contract` is there once `async with` (or `load_contract`) read it."""

    async def main() -> None:
        client = AsyncScoringClient(endpoint.scoring_uri, key=PRIMARY)
        with pytest.raises(ContractError, match="isn't loaded yet"):
            _ = client.contract
        assert (await client.load_contract()).column_names == COLUMN_NAMES
        assert client.contract.column_names == COLUMN_NAMES
        await client.aclose()
        with pytest.raises(RuntimeError):
            await client.predict([dict(SAMPLE_ROWS[0])])
        async with AsyncScoringClient(endpoint.scoring_uri, key=PRIMARY) as entered:
            assert entered.contract.column_names == COLUMN_NAMES  # no await: entering read it
            assert len(await entered.predict([dict(SAMPLE_ROWS[0])])) == 1

    asyncio.run(main())


# ----------------------------------------------------------------------------------------- the rest


def test_public_names_are_exported() -> None:
    for name in ("ScoringClient", "AsyncScoringClient", "InputValidationError", "RateLimitError", "APIConnectionError"):
        assert hasattr(bankscore, name)


def test_keys_never_reach_logs_reprs_or_errors(make_client: ClientFactory, start_endpoint: Any, caplog: Any) -> None:
    """Everything the client can log at DEBUG (itself, httpx, httpcore), on success and on failure."""
    caplog.set_level(logging.DEBUG)
    flaky = start_endpoint(fault_rate=0.5, faults=(503,), retry_after=0.01, fault_seed=1)
    texts: list[str] = []
    with make_client(
        flaky.scoring_uri, key="stale-key-abc", secondary_key=SECONDARY, batch_rows=5, max_retries=30
    ) as client:
        client.predict(frame(40))
        texts += [repr(client), str(client._credential), repr(client.options)]
    with make_client(flaky.scoring_uri, key="wrong-key-xyz", max_retries=0) as client:
        with pytest.raises(BankscoreError) as caught:
            client.predict(frame(5))
        texts += [str(caught.value), repr(caught.value), repr(vars(caught.value))]
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(record.args) for record in caplog.records]
    assert len(caplog.records) > 20, "debug logging was really on"
    for secret in ("stale-key-abc", SECONDARY, "wrong-key-xyz"):
        assert not [t for t in texts if secret in t]


def test_empty_input_gives_empty_results_without_a_request(client: Any) -> None:
    assert client.predict([]).empty
    empty = frame(3).iloc[:0]
    assert client.predict(empty).empty
    proba = client.predict_proba(empty)
    assert proba.empty and list(proba.columns) == ["no", "yes"]


def test_text_json_cannot_carry_is_a_validation_error(client: Any) -> None:
    row = dict(SAMPLE_ROWS[0], job="bad\ud800text")
    with pytest.raises(InputValidationError, match="row 0, column 'job'"):
        client.predict([row])
