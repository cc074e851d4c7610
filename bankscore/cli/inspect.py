"""`bankscore schema`, `health` and `codegen`: look at an endpoint's contract, check it, write a typed module."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .._exceptions import BankscoreError
from ._app import EXIT_FAILURE, fail, out
from ._endpoint import AuthChoice, AuthOption, EndpointOption, KeyFileOption, SwaggerOption, scoring_client


def schema(
    endpoint: EndpointOption = None,
    key_file: KeyFileOption = None,
    auth: AuthOption = AuthChoice.key,
    swagger: SwaggerOption = None,
) -> None:
    """Print the endpoint's contract: envelope, columns and types, declared output."""
    with scoring_client(endpoint, key_file, swagger, auth=auth) as client:
        contract = client.contract
        table = Table(title=f"{contract.title or 'endpoint'} — POST {contract.score_path}")
        for column in ("#", "column", "type", "required", "levels seen by the model"):
            table.add_column(column)
        for i, c in enumerate(contract.columns, 1):
            levels = ", ".join(c.levels[:8]) + (" …" if len(c.levels) > 8 else "")
            table.add_row(str(i), c.name, c.type, "yes" if c.required else "no", levels)
        out.print(table)
        from ..contract import ENVELOPE_NAMES

        spec = "OpenAPI " if contract.spec_version.startswith("3") else "Swagger "
        read_from = f" (read from {spec}{contract.spec_version})" if contract.spec_version else ""
        out.print(f"Envelope: {ENVELOPE_NAMES[contract.envelope]}{read_from}")
        out.print(f"predict_proba: {'yes' if contract.supports_proba else 'no'}; classes: {contract.class_names()}")
        out.print(f"Declared output: {contract.declared_output} (bankscore trusts the values it receives)")


def health(endpoint: EndpointOption = None, key_file: KeyFileOption = None, auth: AuthOption = AuthChoice.key) -> None:
    """Check that GET / answers 200 (exit 0) or not (exit 1)."""
    with scoring_client(endpoint, key_file, swagger=None, auth=auth) as client:
        healthy = client.health()
        target = client.endpoint
    if not healthy:
        fail(f"{target}: not healthy (GET / did not answer 200)", EXIT_FAILURE)
    out.print(f"{target}: Healthy")


def codegen(
    output: Annotated[Path, typer.Option("-o", "--output", help="Python module to write.")],
    swagger: SwaggerOption = None,
    endpoint: EndpointOption = None,
    key_file: KeyFileOption = None,
    auth: AuthOption = AuthChoice.key,
) -> None:
    """Write a typed module (row model with aliases + a thin typed client) for the endpoint's contract."""
    from .._atomic import atomic_path
    from ..codegen import generate_module
    from ..contract import load_swagger_file, parse_swagger

    if swagger is not None and not swagger.startswith(("http://", "https://")):
        try:
            contract = parse_swagger(load_swagger_file(swagger))
        except BankscoreError as exc:
            fail(str(exc))
        source = generate_module(contract, endpoint=endpoint)
    else:
        with scoring_client(endpoint, key_file, swagger, auth=auth) as client:
            source = generate_module(client.contract, endpoint=endpoint)
    if output.suffix != ".py":
        fail(f"{output}: the output must be a .py file")
    with atomic_path(output) as temporary:
        temporary.write_text(source, encoding="utf-8")
    out.print(f"Wrote {output}")
