# ---------------------------------------------------------
# MLflow-style: a v2 managed-endpoint script whose input is MLflow's split-orient `input_data`
# ({"columns", "index", "data": [[row values], ...]}) declared with StandardPythonParameterType,
# and whose output is a bare JSON array. A row mixes numbers and strings, which Swagger 2.0 can't
# describe, so Microsoft's server publishes no version-2 swagger for it: GET /swagger.json answers
# 404 "Swagger version [2] is not supported ... Supported swagger versions: [3, 3.1]" and only
# ?version=3 / ?version=3.1 answer. Clients must find the contract there.
# ---------------------------------------------------------
"""MLflow-style (input_data, OpenAPI-3-only swagger) score script serving a bankscore model."""

# mypy: disable-error-code="untyped-decorator"
from __future__ import annotations

import logging
import os
from typing import Any

import pandas as pd
from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType
from inference_schema.schema_decorators import input_schema, output_schema

from bankscore.bankmarketing.schema import COLUMN_NAMES, SAMPLE_ROWS
from bankscore.server.model import Model, load_model

input_sample = StandardPythonParameterType(
    {
        "columns": list(COLUMN_NAMES),
        "index": list(range(len(SAMPLE_ROWS))),
        "data": [[row[name] for name in COLUMN_NAMES] for row in SAMPLE_ROWS],
    }
)
output_sample = StandardPythonParameterType(["yes", "no"])

logger = logging.getLogger("mlflow_score_script")

model: Model


def init() -> None:
    global model
    model = load_model(os.environ["AZUREML_MODEL_DIR"])


@input_schema("input_data", input_sample)
@output_schema(output_sample)
def run(input_data: dict[str, Any]) -> list[Any]:
    frame = pd.DataFrame(input_data["data"], columns=input_data["columns"], index=input_data.get("index"))
    return list(model.predict(frame).tolist())
