"""Microsoft's own Azure ML inference server, run locally as a conformance peer.

`peer.ensure_venv()` builds the server's separate virtual environment (it pins pydantic,
flask and opentelemetry differently from bankscore) and `peer.AzureMLPeer` serves a bankscore
model through it with an AutoML-generated score script of either generation.
"""
