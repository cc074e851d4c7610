"""`bankscore docs`: Swagger UI for any endpoint's contract, on this machine, with the key kept out of the browser."""

from __future__ import annotations

from typing import Annotated

import typer

from .._exceptions import BankscoreError
from ._app import EXIT_FAILURE, EXIT_USAGE, err, fail
from ._endpoint import AuthChoice, AuthOption, EndpointOption, KeyFileOption, SwaggerOption, endpoint_target

DEFAULT_PORT = 8765  # bankscore.server.docs_proxy.DEFAULT_PORT, here so `--help` loads no server wing


def docs(
    endpoint: EndpointOption = None,
    key_file: KeyFileOption = None,
    auth: AuthOption = AuthChoice.key,
    swagger: SwaggerOption = None,
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 for the page (0: a free one).")
    ] = DEFAULT_PORT,
    open_browser: Annotated[
        bool, typer.Option("--open/--no-open", help="Open the page in the default browser.")
    ] = False,
    max_body_mb: Annotated[
        float, typer.Option(help="Largest request body the page may send to /score, in MB.", min=0.001)
    ] = 10.0,
) -> None:
    """Swagger UI for the endpoint's contract at http://127.0.0.1:PORT/: Try it out goes through a local proxy
    that adds the key or token, so the browser never holds it and no CORS is needed.

    The contract is found as the client finds it (Swagger 2.0, else OpenAPI 3); the proxy forwards only POST
    /score to the endpoint and answers only this machine. Each request is logged to stderr as one JSON line."""
    from .._extras import check

    check("server", "bankscore docs")  # before anything is printed: a missing extra is the only line
    from .. import ScoringClient
    from ..server.docs_proxy import DocsProxy, DocsServer, configure_access_log

    try:
        with endpoint_target(endpoint, key_file, auth=auth) as target:
            # The contract is fetched once now: a wrong endpoint, key or swagger is one line before anything listens.
            if target.credential is not None:
                client = ScoringClient(target.endpoint, credential=target.credential, swagger=swagger)
            else:
                client = ScoringClient(target.endpoint, key=target.key, key_file=key_file, swagger=swagger)
            with client:
                contract = client.contract
            proxy = DocsProxy(
                target.endpoint,
                key=target.key,
                key_file=key_file,
                credential=target.credential,
                swagger=swagger,
                max_body_bytes=int(max_body_mb * 1024 * 1024),
                title=contract.title or None,
            )
            try:
                server = DocsServer(proxy, port)
            except OSError as exc:
                fail(f"can't listen on 127.0.0.1:{port}: {exc.strerror}; pass --port N (0 picks a free port)")
            spec = "OpenAPI" if contract.spec_version.startswith("3") else "Swagger"
            err.print(
                f"Swagger UI for {contract.title or proxy.target} ({spec} {contract.spec_version}) at {server.url}"
                f" — Try it out goes to {proxy.target} with the {proxy.credential_kind} added here. Ctrl+C stops."
            )
            if not proxy.sends_credential:
                err.print(
                    "[bold yellow]warning:[/] no key (BANKSCORE_KEY, --key-file): requests go without one",
                    markup=True,
                )
            configure_access_log()
            if open_browser:  # on a thread: a browser command that waits until it is closed must not block serving
                import threading
                import webbrowser

                threading.Thread(target=webbrowser.open, args=(server.url,), daemon=True).start()
            server.run()
    except BankscoreError as exc:
        from .._exceptions import APIError

        fail(str(exc), EXIT_FAILURE if isinstance(exc, APIError) else EXIT_USAGE)
