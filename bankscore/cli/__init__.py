"""The `bankscore` command: every subcommand is a thin shell over the library's public API.

One module per command group; importing them registers the commands on `app`.
"""

from __future__ import annotations

import sys

from .._exceptions import MissingDependencyError
from . import batch, docs, excel, importance, inspect, loadtest, pipeline, report, score, serve, train
from ._app import EXIT_USAGE, app, say_error

__all__ = ["app", "main"]

# In the order `bankscore --help` lists them: the model, the endpoint, then what a client does.
for command in (
    train.train,
    report.report,
    serve.serve,
    score.score,
    inspect.schema,
    inspect.health,
    inspect.codegen,
    docs.docs,
    importance.importance,
    loadtest.loadtest,
):
    app.command()(command)
app.add_typer(pipeline.pipeline_app)
app.add_typer(batch.batch_app)
app.add_typer(excel.excel_app)


def main() -> None:
    """The console script: a missing extra is one line and exit 2, Ctrl-C exit 130, never a traceback."""
    try:
        app()
    except MissingDependencyError as exc:
        say_error(str(exc))
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
