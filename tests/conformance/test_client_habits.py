"""What real sample clients send, replayed against Microsoft's server and the embedded endpoint alike.

Each habit (contract notes §12) goes over real HTTP with the bytes and headers its client sends: the studio's
Consume samples through urllib (every value a JSON string, 'Bearer ' + an empty key, the v2 deployment
header), the C# sample's headers, Microsoft's bank notebook and the Udacity starter through requests (a body
glued around DataFrame.to_json, a str body without a Content-Type), ab's HTTP/1.0, a UTF-8 BOM, the
Content-Type a browser's fetch() gives a string. The peer (gen B, or gen A for the gen-A clients) and the
embedded endpoint with the same envelope and model must answer the same status and the same predictions.

Where we differ on purpose, the test says so with DIFFERS, and asserts both answers: the peer's 500 for a
client mistake (and its 200 for a missing value it scores) against our answer naming row and column — 400
JSON for gen B, and for gen A the in-band {"error"} of HTTP 200 that the embedded gen-A endpoint gives every
rejected row (README, "Deliberate choices").
"""

from __future__ import annotations

import json
import math
import socket
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest
import requests

from bankscore.bankmarketing.synthetic import generate
from tests.support.common import PRIMARY

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("peer")]  # the session's peers start once, on one worker

RUN_FAILED = {"message": "An unexpected error occurred in scoring script. Check the logs for more info."}
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def results(self) -> Any:
        """Results (gen B) or the inner result (gen A, double-encoded), or the inner error text."""
        document = self.json()
        if isinstance(document, str):
            inner = json.loads(document)
            return inner["result"] if "result" in inner else ("error", inner["error"])
        return document["Results"]


@dataclass
class Pair:
    """The peer and our endpoint for one generation: what a habit is replayed against."""

    generation: str
    peer: Any
    ours: Any

    def both(self, send: Callable[[str], Reply]) -> tuple[Reply, Reply]:
        return send(self.peer.scoring_uri), send(self.ours.scoring_uri)

    def assert_same(self, send: Callable[[str], Reply]) -> Any:
        peer, ours = self.both(send)
        assert (peer.status, ours.status) == (200, 200), (peer.body[:300], ours.body[:300])
        assert ours.results() == peer.results()
        assert not isinstance(ours.results(), tuple), ours.results()
        return ours.results()


# Microsoft's server checks no keys (Azure does, in front of it), so our endpoint here checks none either;
# the clients still send theirs. test_studio_sample_with_an_empty_key is about an endpoint that needs one.
@pytest.fixture
def pair_b(gen_b: Any, start_endpoint: Any) -> Pair:
    return Pair("B", gen_b, start_endpoint(envelope="inputs", primary_key=None, secondary_key=None))


@pytest.fixture
def pair_a(gen_a: Any, start_endpoint: Any) -> Pair:
    return Pair("A", gen_a, start_endpoint(envelope="data", primary_key=None, secondary_key=None))


def frame(n: int = 40, seed: int = 3) -> pd.DataFrame:
    return generate(n, seed=seed, label=False)


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(df.to_json(orient="records"))


def envelope(generation: str, rows: Any) -> dict[str, Any]:
    return {"Inputs": {"data": rows}} if generation == "B" else {"data": rows}


# ---------------------------------------------------------------------------------------- the clients


def urllib_post(uri: str, body: bytes, headers: dict[str, str]) -> Reply:
    """The studio's Python sample: urllib.request.Request(url, body, headers), urlopen, HTTPError read."""
    request = urllib.request.Request(uri, body, headers)
    try:
        with NO_PROXY.open(request, timeout=60) as response:
            return Reply(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, dict(error.headers), error.read())


def requests_post(uri: str, data: str, headers: dict[str, str]) -> Reply:
    """requests.post(uri, json_string, headers=...): a str body, and no Content-Type unless headers has one."""
    with requests.Session() as session:
        session.trust_env = False
        response = session.post(uri, data, headers=headers, timeout=60)
    return Reply(response.status_code, dict(response.headers), response.content)


def raw_exchange(uri: str, request: bytes, *, wait_for_close: bool = False) -> tuple[Reply, bool]:
    """Send exact bytes; read one response; with wait_for_close, whether the server then closed the connection."""
    host, port = uri.split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"the connection closed before the headers: {data!r}"
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers["content-length"])
        while len(rest) < length:
            chunk = sock.recv(65536)
            assert chunk, "the connection closed mid-body"
            rest += chunk
        closed = False
        if wait_for_close:
            sock.settimeout(30)  # a guard against a hang, not a timing assertion
            closed = sock.recv(1) == b""
    return Reply(int(lines[0].split()[1]), headers, rest[:length]), closed


def raw_post(target: str, header_lines: list[str], body: bytes, version: str = "1.1") -> Callable[[str], Reply]:
    """A request written byte by byte; `{length}` and `{host}` are filled in."""

    def send(uri: str) -> Reply:
        host = uri.split("//")[1].split("/")[0]
        lines = [f"POST {target} HTTP/{version}"] + [line.format(length=len(body), host=host) for line in header_lines]
        reply, _ = raw_exchange(uri, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        return reply

    return send


# ------------------------------------------------------------------------- the studio's Consume samples


def studio_body(generation: str, rows: list[dict[str, Any]]) -> bytes:
    """The sample renders every value as a JSON string: "age": "57", "emp.var.rate": "-1.8"."""
    as_text = [{k: str(v) for k, v in row.items()} for row in rows]
    return str.encode(json.dumps(envelope(generation, as_text)))


@pytest.mark.parametrize("generation", ["B", "A"])
def test_studio_sample_every_value_a_string_scores_as_the_numbers(
    request: pytest.FixtureRequest, generation: str
) -> None:
    pair: Pair = request.getfixturevalue(f"pair_{generation.lower()}")
    rows = records(frame())
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + PRIMARY}
    as_strings = pair.assert_same(lambda uri: urllib_post(uri, studio_body(generation, rows), headers))
    as_numbers = pair.assert_same(
        lambda uri: urllib_post(uri, json.dumps(envelope(generation, rows)).encode(), headers)
    )
    assert as_strings == as_numbers


def test_studio_sample_with_its_placeholders(pair_b: Pair) -> None:
    """The v2 sample's data block as generated from a swagger: "0" for numbers, "example_value" for text."""
    swagger = json.loads(NO_PROXY.open(pair_b.peer.swagger_uri, timeout=30).read())
    columns = swagger["definitions"]["ServiceInput"]["properties"]["Inputs"]["properties"]["data"]["items"]
    placeholder = {"integer": "0", "number": "0.0", "string": "example_value"}
    row = {name: placeholder[spec["type"]] for name, spec in columns["properties"].items()}
    body = str.encode(json.dumps({"Inputs": {"data": [row]}, "GlobalParameters": {"method": "predict_proba"}}))
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + PRIMARY}
    results = pair_b.assert_same(lambda uri: urllib_post(uri, body, headers))
    assert len(results) == 1 and len(results[0]) == 2


def test_studio_v2_sample_sends_the_deployment_header(pair_b: Pair) -> None:
    headers = {
        "Content-Type": "application/json",
        "Authorization": "Bearer " + PRIMARY,
        "azureml-model-deployment": "bankmarketing-blue",
    }
    pair_b.assert_same(lambda uri: urllib_post(uri, studio_body("B", records(frame(5))), headers))


def test_studio_sample_with_an_empty_key(gen_b: Any, start_endpoint: Any) -> None:
    """DIFFERS by design of the peer: Microsoft's server has no key auth (Azure checks keys in front of it).

    So 'Bearer ' with nothing after it scores there, and on our endpoint without keys; an endpoint that needs
    a key answers 401 JSON saying the header holds no key."""
    body = studio_body("B", records(frame(3)))
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + ""}
    peer = urllib_post(gen_b.scoring_uri, body, headers)
    open_endpoint = urllib_post(start_endpoint(primary_key=None, secondary_key=None).scoring_uri, body, headers)
    assert (peer.status, open_endpoint.status) == (200, 200)
    assert open_endpoint.results() == peer.results()
    keyed = urllib_post(start_endpoint().scoring_uri, body, headers)
    assert keyed.status == 401
    assert keyed.headers["content-type"] == "application/json"
    assert "holds no key" in keyed.json()["message"]


def test_csharp_sample_headers(pair_b: Pair) -> None:
    """HttpClient with StringContent(body, Encoding.UTF8, "application/json") and the deployment header
    added to the content headers: they travel as ordinary headers, after the content's."""
    body = json.dumps({"Inputs": {"data": records(frame(6))}}).encode()
    send = raw_post(
        "/score",
        [
            "Host: {host}",
            f"Authorization: Bearer {PRIMARY}",
            "Content-Type: application/json; charset=utf-8",
            "azureml-model-deployment: bankmarketing-blue",
            "Content-Length: {length}",
        ],
        body,
    )
    pair_b.assert_same(send)


# --------------------------------------------------- Microsoft's bank notebook and the Udacity starter


def notebook_body(generation: str, df: pd.DataFrame) -> str:
    """'{"data": ' + X_test.to_json(orient="records") + "}" (and its gen-B form), as the notebook builds it."""
    with warnings.catch_warnings():  # pandas 3 warns that its default, epoch dates, will change: the habit is it
        warnings.simplefilter("ignore", DeprecationWarning)
        records_json = df.to_json(orient="records")
    return '{"data": ' + records_json + "}" if generation == "A" else '{"Inputs": {"data": ' + records_json + "}}"


NOTEBOOK_HEADERS = {"Content-Type": "application/json"}  # ACI without keys: the notebook sends nothing else


@pytest.mark.parametrize("generation", ["A", "B"])
def test_notebook_body_glued_around_to_json(request: pytest.FixtureRequest, generation: str) -> None:
    pair: Pair = request.getfixturevalue(f"pair_{generation.lower()}")
    df = frame()
    plain = pair.assert_same(lambda uri: requests_post(uri, notebook_body(generation, df), NOTEBOOK_HEADERS))
    # An int column pandas holds as float (after a fillna, a merge): to_json writes 57.0; same answer.
    floats = df.astype({"age": "float64", "pdays": "float64"})
    assert '"age":' in notebook_body(generation, floats) and ".0," in notebook_body(generation, floats)
    assert (
        pair.assert_same(lambda uri: requests_post(uri, notebook_body(generation, floats), NOTEBOOK_HEADERS)) == plain
    )


def _refused_in_ours(pair: Pair, reply: Reply, where: str, column: str) -> None:
    """Our answer naming row and column: 400 JSON for gen B, the in-band error of gen A."""
    if pair.generation == "B":
        assert reply.status == 400, reply.body[:300]
        assert reply.headers["content-type"] == "application/json"
        message = reply.json()["message"]
        assert reply.json()["errors"][0]["column"] == column
    else:
        assert reply.status == 200
        kind, message = reply.results()
        assert kind == "error"
    assert message.startswith(where), message
    assert column in message


@pytest.mark.parametrize("generation", ["A", "B"])
def test_notebook_body_with_a_date_column_the_model_does_not_read(
    request: pytest.FixtureRequest, generation: str
) -> None:
    """DIFFERS: to_json writes the date as epoch milliseconds; the peer's schema check fails on the 21st column
    with a 500, we name the row and the column."""
    pair: Pair = request.getfixturevalue(f"pair_{generation.lower()}")
    df = frame(5)
    df["contact_date"] = pd.Timestamp("2020-05-04")
    body = notebook_body(generation, df)
    assert '"contact_date":1588550400000' in body
    peer, ours = pair.both(lambda uri: requests_post(uri, body, NOTEBOOK_HEADERS))
    assert peer.status == 500 and peer.json() == RUN_FAILED
    assert peer.headers["x-ms-run-function-failed"] == "True"
    prefix = "Inputs.data[0]" if generation == "B" else "data[0]"
    _refused_in_ours(pair, ours, f"{prefix}: unknown column 'contact_date'", "contact_date")


@pytest.mark.parametrize("generation", ["A", "B"])
def test_notebook_body_with_a_missing_number(request: pytest.FixtureRequest, generation: str) -> None:
    """DIFFERS: to_json writes NaN as null; the peer feeds the model a missing value and answers 200, we ask
    for the cell to be filled in (these models have no imputer) and name row and column."""
    pair: Pair = request.getfixturevalue(f"pair_{generation.lower()}")
    df = frame(8)
    df.loc[3, "euribor3m"] = math.nan
    body = notebook_body(generation, df)
    assert '"euribor3m":null' in body
    peer, ours = pair.both(lambda uri: requests_post(uri, body, NOTEBOOK_HEADERS))
    assert peer.status == 200 and len(peer.results()) == 8
    prefix = "Inputs.data[3]" if generation == "B" else "data[3]"
    _refused_in_ours(pair, ours, f"{prefix}.euribor3m: null where a number (double) is required", "euribor3m")


def test_json_dumps_writes_nan_literals(pair_b: Pair) -> None:
    """DIFFERS: json.dumps writes a float NaN as NaN, which is not JSON; Python's json (the peer) reads it and
    scores a missing value, we answer 400 saying where the literal is and how to catch it."""
    rows = records(frame(4))
    rows[2]["cons.conf.idx"] = math.nan
    body = json.dumps({"Inputs": {"data": rows}})
    assert "NaN" in body
    headers = {"Content-Type": "application/json"}
    peer, ours = pair_b.both(lambda uri: requests_post(uri, body, headers))
    assert peer.status == 200 and len(peer.results()) == 4
    assert ours.status == 400
    assert ours.json()["message"].startswith("The request body is not valid JSON: NaN at line 1 column")


def udacity_body() -> str:
    return json.dumps({"data": records(frame(2, seed=9))})


def test_udacity_starter(pair_a: Pair) -> None:
    """endpoint.py: headers = {'Content-Type': 'application/json'}; headers['Authorization'] = f'Bearer {key}';
    requests.post(scoring_uri, input_data, headers=headers)."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {PRIMARY}"}
    pair_a.assert_same(lambda uri: requests_post(uri, udacity_body(), headers))


def test_udacity_starter_without_its_content_type_header(pair_a: Pair) -> None:
    """A str body and no Content-Type in headers: requests sends none, and both answer 415 JSON."""
    prepared = requests.Request("POST", pair_a.peer.scoring_uri, data=udacity_body()).prepare()
    assert "Content-Type" not in prepared.headers
    headers = {"Authorization": f"Bearer {PRIMARY}"}
    peer, ours = pair_a.both(lambda uri: requests_post(uri, udacity_body(), headers))
    assert (peer.status, ours.status) == (415, 415)
    assert peer.json() == {"message": "Expects Content-Type to be application/json"}
    assert ours.json()["message"].startswith("Content-Type must be application/json")


# ------------------------------------------------------------------------------------ transport habits


def ab_request(body: bytes, keep_alive: bool = False) -> Callable[[str], bytes]:
    """What `ab -p data.json -T application/json -H 'Authorization: Bearer KEY' URI` writes (ab 2.3)."""

    def build(uri: str) -> bytes:
        host = uri.split("//")[1].split("/")[0]
        lines = ["POST /score HTTP/1.0", f"Content-length: {len(body)}", "Content-type: application/json"]
        lines += [f"Authorization: Bearer {PRIMARY}", f"Host: {host}", "User-Agent: ApacheBench/2.3"]
        if keep_alive:
            lines.append("Connection: Keep-Alive")
        lines.append("Accept: */*")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    return build


@pytest.mark.parametrize("generation", ["A", "B"])
def test_ab_http_1_0_without_keep_alive(request: pytest.FixtureRequest, generation: str) -> None:
    """benchmark.sh's ab: HTTP/1.0, no keep-alive. An answer, then the connection closes (no hang)."""
    pair: Pair = request.getfixturevalue(f"pair_{generation.lower()}")
    build = ab_request(json.dumps(envelope(generation, records(frame(2, seed=9)))).encode())
    (peer, peer_closed), (ours, ours_closed) = (
        raw_exchange(u, build(u), wait_for_close=True) for u in (pair.peer.scoring_uri, pair.ours.scoring_uri)
    )
    assert (peer.status, ours.status) == (200, 200)
    assert ours.results() == peer.results()
    assert peer_closed and ours_closed


def test_ab_keep_alive_gets_an_answer(pair_b: Pair) -> None:
    build = ab_request(json.dumps({"Inputs": {"data": records(frame(2))}}).encode(), keep_alive=True)
    (peer, _), (ours, _) = (raw_exchange(u, build(u)) for u in (pair_b.peer.scoring_uri, pair_b.ours.scoring_uri))
    assert (peer.status, ours.status) == (200, 200)
    assert ours.results() == peer.results()


@pytest.mark.parametrize("generation", ["A", "B"])
def test_a_utf8_bom(request: pytest.FixtureRequest, generation: str) -> None:
    """A body saved by a Windows editor or PowerShell (Out-File -Encoding utf8) and posted as a file."""
    pair: Pair = request.getfixturevalue(f"pair_{generation.lower()}")
    body = b"\xef\xbb\xbf" + json.dumps(envelope(generation, records(frame(4)))).encode()
    headers = ["Host: {host}", f"Authorization: Bearer {PRIMARY}", "Content-Type: application/json"]
    pair.assert_same(raw_post("/score", [*headers, "Content-Length: {length}"], body))


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        pytest.param("text/plain;charset=UTF-8", 415, id="fetch-with-a-string-body"),
        pytest.param(None, 415, id="no-content-type"),
        pytest.param("application/merge-patch+json", 200, id="a-json-suffix-type"),
        pytest.param("Application/JSON; charset=UTF-8", 200, id="capitals-and-charset"),
    ],
)
def test_content_types(pair_b: Pair, content_type: str | None, status: int) -> None:
    body = json.dumps({"Inputs": {"data": records(frame(3))}}).encode()
    lines = ["Host: {host}", f"Authorization: Bearer {PRIMARY}", "Content-Length: {length}"]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    peer, ours = pair_b.both(raw_post("/score", lines, body))
    assert (peer.status, ours.status) == (status, status), (peer.body, ours.body)
    if status == 200:
        assert ours.results() == peer.results()
    else:
        assert peer.json() == {"message": "Expects Content-Type to be application/json"}
        assert ours.headers["content-type"] == "application/json"
        assert ours.json()["message"].startswith("Content-Type must be application/json")


# -------------------------------------------------------------------------- one odd cell, both servers

# (column, value) the peer reads as a number (or, in a category column, as a level it never saw): both 200,
# the same predictions as the number itself.
SAME_CELLS: list[tuple[str, Any, Any]] = [
    ("age", "57", 57),
    ("age", " 57 ", 57),
    ("age", "+57", 57),
    ("age", "1_000", 1000),
    ("age", 57.0, 57),
    ("emp.var.rate", "-1.8", -1.8),
    ("emp.var.rate", " -1.8 ", -1.8),
    ("emp.var.rate", "1e3", 1000.0),
    ("job", 5, "a level never seen"),
    ("job", 5.0, "a level never seen"),
    ("job", True, "a level never seen"),
]
# The peer answers 500: we answer naming row and column.
PEER_500_CELLS: list[tuple[str, Any]] = [
    ("age", "57.0"),
    ("age", "5.7e1"),
    ("age", "1e3"),
    ("age", ""),
    ("age", "abc"),
    ("age", "true"),
    ("age", "NaN"),
    ("age", "99999999999999999999"),
    ("age", None),
    ("emp.var.rate", ""),
    ("emp.var.rate", "abc"),
    ("emp.var.rate", "-1,8"),
]
# The peer answers 200 for a value it silently changes (truncated, a boolean as 1, NaN/inf/null fed to the
# model): we answer naming row and column.
PEER_MISREADS_CELLS: list[tuple[str, Any]] = [
    ("age", 57.5),
    ("age", True),
    ("emp.var.rate", True),
    ("emp.var.rate", "NaN"),
    ("emp.var.rate", "inf"),
    ("emp.var.rate", None),
    ("job", None),
]


def cell_body(generation: str, column: str, value: Any) -> str:
    rows = records(frame(3))
    rows[1][column] = value
    return json.dumps(envelope(generation, rows))


@pytest.mark.parametrize("generation", ["B", "A"])
@pytest.mark.parametrize(("column", "value", "meant"), SAME_CELLS, ids=[f"{c}={v!r}" for c, v, _ in SAME_CELLS])
def test_cells_both_read_the_same(
    request: pytest.FixtureRequest, generation: str, column: str, value: Any, meant: Any
) -> None:
    pair: Pair = request.getfixturevalue(f"pair_{generation.lower()}")
    headers = {"Content-Type": "application/json"}
    got = pair.assert_same(lambda uri: requests_post(uri, cell_body(generation, column, value), headers))
    if column != "job":
        assert got == pair.assert_same(lambda uri: requests_post(uri, cell_body(generation, column, meant), headers))


@pytest.mark.parametrize("generation", ["B", "A"])
@pytest.mark.parametrize(("column", "value"), PEER_500_CELLS, ids=[f"{c}={v!r}" for c, v in PEER_500_CELLS])
def test_cells_the_peer_fails_on_with_a_500(
    request: pytest.FixtureRequest, generation: str, column: str, value: Any
) -> None:
    """DIFFERS: the peer's 500 for a client mistake; ours names row and column."""
    pair: Pair = request.getfixturevalue(f"pair_{generation.lower()}")
    peer, ours = pair.both(
        lambda uri: requests_post(uri, cell_body(generation, column, value), {"Content-Type": "application/json"})
    )
    assert peer.status == 500 and peer.json() == RUN_FAILED
    _refused_in_ours(pair, ours, f"{'Inputs.data' if generation == 'B' else 'data'}[1].{column}: ", column)


@pytest.mark.parametrize("generation", ["B", "A"])
@pytest.mark.parametrize(("column", "value"), PEER_MISREADS_CELLS, ids=[f"{c}={v!r}" for c, v in PEER_MISREADS_CELLS])
def test_cells_the_peer_silently_changes(
    request: pytest.FixtureRequest, generation: str, column: str, value: Any
) -> None:
    """DIFFERS: the peer answers 200 for a value other than the one sent; ours names row and column."""
    pair: Pair = request.getfixturevalue(f"pair_{generation.lower()}")
    peer, ours = pair.both(
        lambda uri: requests_post(uri, cell_body(generation, column, value), {"Content-Type": "application/json"})
    )
    assert peer.status == 200 and len(peer.results()) == 3
    _refused_in_ours(pair, ours, f"{'Inputs.data' if generation == 'B' else 'data'}[1].{column}: ", column)
