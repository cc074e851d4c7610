# ---------------------------------------------------------
# Gen A: the score script Azure AutoML generated in 2020-21 (scoring_file_v_1_0_0.py), with
# AutoML's telemetry and joblib pickle swapped for bankscore's model. Kept in that exact shape
# because its quirks are the contract: run() returns a JSON *string*, which the server encodes
# again (the body is a JSON string holding {"result": [...]}), and a model error is caught and
# returned as {"error": "..."} with HTTP 200. The output schema declares int64 [0] although the
# labels are strings, as the generated scripts did.
#
# With BANKSCORE_PEER_GEN_A_METHOD=1 run() is the 2021 variant ("gen A'") that also takes a
# top-level "method": "predict" | "predict_proba" next to "data".
# ---------------------------------------------------------
"""AutoML 2020-21 ("gen A", optionally gen A') score script serving a bankscore model."""

# mypy: disable-error-code="untyped-decorator"
from __future__ import annotations

import json
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

input_sample = pd.DataFrame(
    {
        name: pd.Series([row[name] for row in SAMPLE_ROWS], dtype=_PANDAS_DTYPES[COLUMN_TYPES[name]])
        for name in COLUMN_NAMES
    }
)
output_sample = np.array([0])
method_sample = StandardPythonParameterType("predict")

logger = logging.getLogger("azureml.automl.core.scoring_script")

model: Model


def init() -> None:
    global model
    model_dir = os.environ["AZUREML_MODEL_DIR"]
    logger.info("Loading model from path.")
    model = load_model(model_dir)
    logger.info("Loading successful.")


@input_schema("data", PandasParameterType(input_sample))
@output_schema(NumpyParameterType(output_sample))
def run_gen_a(data: pd.DataFrame) -> str:
    result: Any
    try:
        result = model.predict(data)
        return json.dumps({"result": result.tolist()})
    except Exception as e:
        result = str(e)
        return json.dumps({"error": result})


@input_schema("method", method_sample, convert_to_provided_type=False)
@input_schema("data", PandasParameterType(input_sample))
@output_schema(NumpyParameterType(output_sample))
def run_gen_a_prime(data: pd.DataFrame, method: str = "predict") -> str:
    result: Any
    try:
        if method == "predict_proba":
            result = model.predict_proba(data)
        elif method == "predict":
            result = model.predict(data)
        else:
            raise Exception(f"Invalid predict method argument received ({method})")
        if isinstance(result, pd.DataFrame):
            result = result.values
        return json.dumps({"result": result.tolist()})
    except Exception as e:
        result = str(e)
        return json.dumps({"error": result})


# The server calls the module's `run`; which shape it sees is chosen once, at import.
run = run_gen_a_prime if os.environ.get("BANKSCORE_PEER_GEN_A_METHOD") == "1" else run_gen_a
