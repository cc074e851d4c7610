"""`bankscore serve`: the embedded Azure-compatible endpoint in the foreground."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from .._exceptions import BankscoreError
from ..credentials import is_loopback
from ._app import err, fail


class EnvelopeChoice(StrEnum):
    inputs = "inputs"
    data = "data"
    explain = "explain"


class AuthChoice(StrEnum):
    key = "key"
    entra = "entra"


def serve(
    model: Annotated[
        Path | None,
        typer.Option(help="Model directory from `bankscore train`. Default: the cached synthetic model."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to bind; loopback unless you mean otherwise.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535)] = 5001,
    envelope: Annotated[
        EnvelopeChoice,
        typer.Option(
            "--envelope",
            "--contract",
            help="inputs: today's AutoML (Inputs/GlobalParameters → Results; also method explain); "
            "data: 2020-21 services (data → double-encoded result); "
            "explain: AutoML v1's explainer deployment (a bare array of rows → predictions and "
            "per-class importance values).",
        ),
    ] = EnvelopeChoice.inputs,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    key_file: Annotated[
        Path | None, typer.Option(help="File with the primary key, and optionally the secondary on line 2.")
    ] = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Accept requests without a key or token.")] = False,
    auth: Annotated[
        AuthChoice,
        typer.Option(
            help="key: Authorization: Bearer <key> (ACI/AKS/v2 keys); entra: Microsoft Entra RS256 tokens "
            "checked against --jwks, on every route.",
        ),
    ] = AuthChoice.key,
    jwks: Annotated[
        Path | None,
        typer.Option(help="With --auth entra: the JSON Web Key Set file (public keys) the tokens are signed with."),
    ] = None,
    audience: Annotated[
        str, typer.Option(help="With --auth entra: the token audience of /score and /jobs.")
    ] = "https://ml.azure.com",
    clock_skew: Annotated[
        float, typer.Option(help="With --auth entra: seconds of clock skew allowed on exp and nbf.", min=0)
    ] = 60.0,
    issuer: Annotated[
        str | None, typer.Option(help="With --auth entra: accept only tokens with this iss (default: any).")
    ] = None,
    max_body_mb: Annotated[float, typer.Option(help="Largest request body, in MB (AKS: 100).", min=0.001)] = 100.0,
    fault_rate: Annotated[
        float, typer.Option(help="Share of /score requests that fail on purpose.", min=0, max=1)
    ] = 0.0,
    fault_status: Annotated[
        list[str] | None,
        typer.Option(help="Fault to inject: 408, 429, 500, 502, 503, 504 or model-error (repeatable)."),
    ] = None,
    retry_after: Annotated[float, typer.Option(help="Retry-After seconds sent with injected 429/503.", min=0)] = 1.0,
    latency_ms: Annotated[float, typer.Option(help="Extra latency added to every /score request.", min=0)] = 0.0,
    fault_seed: Annotated[int | None, typer.Option(help="Seed for the fault draws.")] = None,
    log_file: Annotated[Path | None, typer.Option(help="Write the JSON request log here instead of stderr.")] = None,
    access_log: Annotated[bool, typer.Option(help="Log one JSON line per request.")] = True,
    pipelines: Annotated[
        bool,
        typer.Option(
            "--pipelines",
            help="Also publish the pipeline 'retrain' (a run retrains, then this endpoint serves the new model) "
            "and a batch endpoint at /jobs.",
        ),
    ] = False,
    runs_dir: Annotated[
        Path | None,
        typer.Option(help="With --pipelines: where runs write logs and models. Default: under the cache directory."),
    ] = None,
    run_timeout: Annotated[
        float | None,
        typer.Option(help="With --pipelines: seconds one pipeline run or batch job may take. Default: 600.", min=1),
    ] = None,
    pipeline_default: Annotated[
        list[str] | None,
        typer.Option(
            "--pipeline-default",
            help="With --pipelines: a parameter's published default, NAME=VALUE (repeatable), e.g. rows=5000; "
            "runs that don't set it use it.",
        ),
    ] = None,
) -> None:
    """Run the embedded Azure-compatible scoring endpoint (GET /, GET /swagger.json, POST /score; GET /docs).

    Auth is a key by default (as ACI/AKS), Microsoft Entra tokens with --auth entra --jwks FILE (as an
    `aad_token` endpoint: every route then needs a token), or off with --no-auth."""
    from .._exceptions import KeySourceError
    from .._extras import check

    check("server", "bankscore serve")  # before anything is printed: a missing extra is the only line
    from ..server.auth import resolve_keys
    from ..server.faults import parse_fault

    try:
        faults = tuple(parse_fault(f) for f in (fault_status or ["503"]))
    except ValueError as exc:
        fail(f"--fault-status: {exc}")
    if pipelines and workers > 1:
        fail(
            "--pipelines needs --workers 1: a finished run swaps the model in the process that ran it, "
            "so other workers would go on serving the old one"
        )
    if not pipelines and (runs_dir is not None or run_timeout is not None or pipeline_default):
        fail("--runs-dir, --run-timeout and --pipeline-default set up pipeline runs: add --pipelines")
    from ._waiting import parameter

    defaults = dict(parameter(p) for p in pipeline_default or [])
    if defaults:
        from ..server.pipelines import PipelineService

        try:
            PipelineService.check_defaults(defaults)
        except ValueError as exc:
            fail(f"--pipeline-default: {exc}")
    primary: str | None = None
    secondary: str | None = None
    entra = auth is AuthChoice.entra
    if entra:
        if no_auth:
            fail("--no-auth and --auth entra contradict each other; choose one")
        if key_file is not None:
            fail("--auth entra checks tokens, not keys: drop --key-file (or use --auth key)")
        if jwks is None:
            fail("--auth entra needs --jwks FILE, the JSON Web Key Set the tokens are signed with")
        if not audience.strip():
            fail("--audience must not be empty")
        try:  # read now, so a bad file is one line before the model loads
            from ..server.entra import TokenValidator

            TokenValidator.from_file(jwks, audience=audience, clock_skew=clock_skew, issuer=issuer)
        except BankscoreError as exc:
            fail(str(exc))
        except ValueError as exc:  # a clock skew of inf or nan
            fail(f"--clock-skew: {exc}")
    elif jwks is not None or issuer is not None:
        fail("--jwks and --issuer go with --auth entra")
    elif no_auth:
        if key_file is not None:
            fail("--no-auth and --key-file contradict each other; choose one")
        if not is_loopback(host):
            err.print(
                f"[bold yellow]warning:[/] auth is off and the endpoint listens on {host}: "
                "anyone who can reach it can score",
                markup=True,
            )
    else:
        try:
            keys = resolve_keys(key_file)
        except KeySourceError as exc:
            fail(str(exc))
        primary, secondary = keys.primary, keys.secondary
        if keys.generated:
            err.print(f"Generated a primary key for this run (shown once): {keys.primary}")
            err.print("Set BANKSCORE_KEY or pass --key-file to choose your own; --no-auth turns auth off.")
    # The options are checked before the server wing's heavy libraries load: a usage error answers at once.
    from ..server.model import load_model
    from ..server.runner import EndpointConfig, default_model_dir, default_runs_dir
    from ..server.runner import serve as run_server

    try:
        model_dir = model or default_model_dir(announce=err.print)
        loaded = load_model(model_dir)
    except BankscoreError as exc:
        fail(str(exc))
    config = EndpointConfig(
        model_dir=model_dir,
        envelope=envelope.value,
        host=host,
        port=port,
        workers=workers,
        primary_key=primary,
        secondary_key=secondary,
        auth="entra" if entra else "none" if no_auth else "key",
        jwks_file=jwks,
        audience=audience,
        clock_skew=clock_skew,
        issuer=issuer,
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        fault_rate=fault_rate,
        faults=faults,
        retry_after=retry_after,
        latency_ms=latency_ms,
        fault_seed=fault_seed,
        log_file=log_file,
        access_log=access_log,
        pipelines=pipelines,
        runs_dir=runs_dir,
        run_timeout=600.0 if run_timeout is None else run_timeout,
        pipeline_defaults=defaults,
    )
    shown_host = f"[{host}]" if ":" in host else host
    shown_auth = f"entra (audience {audience})" if entra else "off" if no_auth else "key"
    err.print(
        f"Serving {loaded.name} (version {loaded.version}) on http://{shown_host}:{port}/score "
        f"— envelope {envelope.value}, {workers} worker{'s' if workers > 1 else ''}, "
        f"auth {shown_auth}. Ctrl+C stops."
    )
    if pipelines:
        from ..server.pipelines import SUBMIT_PATH

        err.print(
            f"Pipeline 'retrain': POST http://{shown_host}:{port}{SUBMIT_PATH} — batch jobs: "
            f"POST http://{shown_host}:{port}/jobs — runs in {runs_dir or default_runs_dir()}, "
            f"each up to {config.run_timeout:g} s, one at a time."
        )
    try:
        run_server(config)
    except OSError as exc:
        fail(f"can't listen on {host}:{port}: {exc.strerror}")
