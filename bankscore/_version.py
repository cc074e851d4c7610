"""The one place the version is written: the package, the User-Agent, the server header and the wheel read it."""

__version__ = "0.2.0"
