"""The embedded, Azure-compatible Bank Marketing scoring endpoint."""

from .app import ScoringApp
from .auth import KeyRing, resolve_keys
from .faults import FaultPlan
from .runner import EmbeddedEndpoint, EndpointConfig, default_model_dir, serve

__all__ = [
    "EmbeddedEndpoint",
    "EndpointConfig",
    "FaultPlan",
    "KeyRing",
    "ScoringApp",
    "default_model_dir",
    "resolve_keys",
    "serve",
]
