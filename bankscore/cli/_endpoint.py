"""The options every client command takes, and the client they make: the configured endpoint or the embedded one."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .._exceptions import BankscoreError
from ._app import EXIT_FAILURE, EXIT_USAGE, err, fail

if TYPE_CHECKING:
    from .. import ScoringClient

EndpointOption = Annotated[
    str | None,
    typer.Option("--endpoint", help="Scoring URI (…/score). Default: $BANKSCORE_ENDPOINT, else the embedded endpoint."),
]
KeyFileOption = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        help="File with the key (line 1) and optional secondary key (line 2). "
        "Default: $BANKSCORE_KEY / $BANKSCORE_SECONDARY_KEY, else the endpoint's key in the OS keyring "
        "(`bankscore excel set-key`).",
    ),
]


class AuthChoice(StrEnum):
    key = "key"
    entra = "entra"


AuthOption = Annotated[
    AuthChoice,
    typer.Option(
        "--auth",
        envvar="BANKSCORE_AUTH",
        help="key: the endpoint key ($BANKSCORE_KEY, --key-file); entra: a Microsoft Entra token from "
        "azure-identity (AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, a managed identity or `az login`).",
        case_sensitive=False,
    ),
]
SwaggerOption = Annotated[
    str | None, typer.Option("--swagger", help="swagger.json path or URL. Default: <endpoint base>/swagger.json.")
]


@dataclass(frozen=True)
class Target:
    """The endpoint a command talks to and what authenticates to it: the embedded endpoint's throwaway `key`,
    a `key_file`, or `credential` (azure-identity's, for --auth entra); none of them means $BANKSCORE_KEY."""

    endpoint: str
    key: str | None = field(repr=False)
    key_file: Path | None
    credential: Any = field(repr=False)
    local: Any = None  # the EmbeddedEndpoint started for this command, if any


@contextlib.contextmanager
def endpoint_target(
    endpoint: str | None, key_file: Path | None, *, auth: AuthChoice = AuthChoice.key, share_key: bool = False
) -> Iterator[Target]:
    """The configured endpoint, or the embedded one started for this command (and stopped after it).

    share_key: put the embedded endpoint's throwaway key in this process's environment, where the
    worker processes it starts (Dask) find it; never on a command line.
    """
    from .._exceptions import KeySourceError
    from ..credentials import keyring_key

    endpoint = endpoint or os.environ.get("BANKSCORE_ENDPOINT") or None
    credential = entra_credential(auth, key_file)
    if credential is not None and endpoint is None:
        fail(
            "--auth entra needs an endpoint (--endpoint or BANKSCORE_ENDPOINT): the embedded endpoint this command "
            "starts on its own takes a key"
        )
    if key_file is not None:
        from ..credentials import read_key_file

        try:
            read_key_file(key_file)
        except KeySourceError as exc:
            fail(str(exc))
    local = None
    key: str | None = None
    try:
        if endpoint is None:
            from ..server.runner import start_local_endpoint

            local, key = start_local_endpoint(announce=err.print)
            endpoint = local.scoring_uri
            if share_key:
                os.environ["BANKSCORE_KEY"] = key
                os.environ.pop("BANKSCORE_KEY_FILE", None)
            err.print(
                f"No endpoint configured (--endpoint or BANKSCORE_ENDPOINT): using the embedded local endpoint "
                f"at {endpoint} ({local.app.model.name}, version {local.app.model.version})."
            )
        elif credential is None and key_file is None and not _key_in_environment():
            key = keyring_key(endpoint)  # what `bankscore excel set-key` stored, if the keyring has it
            if key is not None and share_key:
                os.environ["BANKSCORE_KEY"] = key
        yield Target(endpoint, key, key_file, credential, local)
    finally:
        if local is not None:
            local.stop()


@contextlib.contextmanager
def scoring_client(
    endpoint: str | None,
    key_file: Path | None,
    swagger: str | None,
    *,
    auth: AuthChoice = AuthChoice.key,
    share_key: bool = False,
    **options: Any,
) -> Iterator[ScoringClient]:
    """A ScoringClient for the configured endpoint, or for the embedded one started just for this command
    (`endpoint_target`); a library error in the command is one line and the exit code it means."""
    from .. import ScoringClient
    from .._exceptions import KeySourceError

    try:
        with endpoint_target(endpoint, key_file, auth=auth, share_key=share_key) as target:
            if "concurrency" not in options:
                # The embedded endpoint scores on this machine's cores: more requests in flight only contend.
                options["concurrency"] = (os.cpu_count() or 2) if target.local is not None else 4
            if "batch_rows" not in options:
                # No network and no gateway timeout in between: fewer, larger requests cost less per row.
                options["batch_rows"] = 5_000 if target.local is not None else 1_000
            try:
                if target.credential is not None:
                    client = ScoringClient(target.endpoint, credential=target.credential, swagger=swagger, **options)
                else:
                    client = ScoringClient(
                        target.endpoint, key=target.key, key_file=key_file, swagger=swagger, **options
                    )
            except KeySourceError as exc:
                fail(str(exc))
            with client:
                yield client
    except BankscoreError as exc:
        from .._exceptions import APIError, InputValidationError

        if isinstance(exc, InputValidationError):
            fail(one_line(exc))
        fail(str(exc), EXIT_FAILURE if isinstance(exc, APIError) else EXIT_USAGE)


def _key_in_environment() -> bool:
    from ..credentials import KEY_ENV, KEY_FILE_ENV

    return bool(os.environ.get(KEY_ENV) or os.environ.get(KEY_FILE_ENV))


def entra_credential(auth: AuthChoice, key_file: Path | None) -> Any:
    """azure-identity's DefaultAzureCredential for `--auth entra`, None for keys; a contradiction is a usage error."""
    if auth is not AuthChoice.entra:
        return None
    if key_file is not None:
        fail("--auth entra and --key-file contradict each other: a token replaces the key; choose one")
    from ..credentials import default_azure_credential

    return default_azure_credential()


def one_line(exc: Any) -> str:
    shown = "; ".join(str(p) for p in exc.problems[:3])
    more = f"; and {exc.total - 3} more" if exc.total > 3 else ""
    return f"{exc.total} problem{'s' if exc.total != 1 else ''} in the input: {shown}{more}"
