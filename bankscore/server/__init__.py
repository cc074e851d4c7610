"""The server wing (`pip install "bankscore[server]"`): the embedded Azure-compatible endpoint and its trainer.

`app` answers as an Azure ML service does, `runner` serves it (foreground or a background thread),
`model` is the model directory format, `training` the AutoML-like trainer, `swagger_ui` the Swagger UI pages and
`docs_proxy` the proxy of `bankscore docs`. Nothing in the SDK imports
this package; the CLI and the tests do. Without the extra, the modules that need it (`model`, and
`runner`, which everything else leans on) raise one clear `MissingDependencyError`; `errors` needs
nothing, so `except bankscore.TrainingDataError` works in a core install too.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import ScoringApp
    from .auth import KeyRing, resolve_keys
    from .docs_proxy import DocsProxy, DocsServer
    from .errors import ModelLoadError, TrainingDataError
    from .faults import FaultPlan
    from .model import Model, load_model
    from .runner import EmbeddedEndpoint, EndpointConfig, default_model_dir, serve, start_local_endpoint

_EXPORTS = {
    "EmbeddedEndpoint": "runner",
    "EndpointConfig": "runner",
    "default_model_dir": "runner",
    "serve": "runner",
    "start_local_endpoint": "runner",
    "ScoringApp": "app",
    "KeyRing": "auth",
    "DocsProxy": "docs_proxy",
    "DocsServer": "docs_proxy",
    "resolve_keys": "auth",
    "FaultPlan": "faults",
    "Model": "model",
    "load_model": "model",
    "ModelLoadError": "errors",
    "TrainingDataError": "errors",
}
__all__ = [
    "DocsProxy",
    "DocsServer",
    "EmbeddedEndpoint",
    "EndpointConfig",
    "FaultPlan",
    "KeyRing",
    "Model",
    "ModelLoadError",
    "ScoringApp",
    "TrainingDataError",
    "default_model_dir",
    "load_model",
    "resolve_keys",
    "serve",
    "start_local_endpoint",
]


def __getattr__(name: str) -> Any:
    """Exports load with their module, so `bankscore.server.errors` alone doesn't pull in uvicorn and LightGBM."""
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
