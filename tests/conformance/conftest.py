"""The conformance tests: both clients against servers that need the full environment (Microsoft's inference
server in its own venv, an MLflow-style server on uvicorn) and a trained model in this process.

Like the client suite (tests/client/conftest.py), every test that makes a client runs once per client.
"""

from __future__ import annotations

from tests.support.twins import flavor, make_client  # noqa: F401 - the fixtures every client test takes
