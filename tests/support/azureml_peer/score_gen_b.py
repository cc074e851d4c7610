# ---------------------------------------------------------
# Gen B: the score script Azure AutoML generates since 2022 (scoring_file_v_2_0_0.py), with
# AutoML's telemetry and joblib pickle swapped for bankscore's model. Kept in that exact shape
# (decorators, names, error handling) because its request, response and swagger are the contract
# our client is tested against.
# ---------------------------------------------------------
"""AutoML 2022+ ("gen B") score script serving a bankscore model."""

# mypy: disable-error-code="untyped-decorator"
from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import pandas as pd
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.parameter_types.pandas_parameter_type import PandasParameterType
from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType
from inference_schema.schema_decorators import input_schema, output_schema

from bankscore.bankmarketing.schema import COLUMN_NAMES, COLUMN_TYPES, SAMPLE_ROWS
from bankscore.server.model import Model, load_model

_PANDAS_DTYPES = {"int64": "int64", "double": "float64", "string": "object"}

data_sample = PandasParameterType(
    pd.DataFrame(
        {
            name: pd.Series([row[name] for row in SAMPLE_ROWS], dtype=_PANDAS_DTYPES[COLUMN_TYPES[name]])
            for name in COLUMN_NAMES
        }
    )
)
input_sample = StandardPythonParameterType({"data": data_sample})
method_sample = StandardPythonParameterType("predict")
sample_global_params = StandardPythonParameterType({"method": method_sample})

result_sample = NumpyParameterType(np.array(["example_value"]))
output_sample = StandardPythonParameterType({"Results": result_sample})

logger = logging.getLogger("azureml.automl.core.scoring_script_v2")

model: Model


def init() -> None:
    global model
    model_dir = os.environ["AZUREML_MODEL_DIR"]
    logger.info("Loading model from path.")
    model = load_model(model_dir)
    logger.info("Loading successful.")


@input_schema("GlobalParameters", sample_global_params, convert_to_provided_type=False)
@input_schema("Inputs", input_sample)
@output_schema(output_sample)
def run(
    Inputs: dict[str, Any],
    GlobalParameters: dict[str, Any] = {"method": "predict"},  # noqa: B006  (AutoML's own default)
) -> dict[str, Any]:
    data = Inputs["data"]
    result: Any
    if GlobalParameters.get("method") == "predict_proba":
        result = model.predict_proba(data)
    elif GlobalParameters.get("method") == "predict":
        result = model.predict(data)
    else:
        raise Exception(f"Invalid predict method argument received. GlobalParameters: {GlobalParameters}")
    if isinstance(result, pd.DataFrame):
        result = result.values
    return {"Results": result.tolist()}
