# ---------------------------------------------------------
# AutoML v1 "explain at scoring time": the score script deployed beside a scoring explainer
# (automl_model + scoring_explainer.pkl). Its run(raw_data) has no schema decorators, so the server
# hands it the body as text and publishes no schema; it reads the body as a bare array of records and
# answers a plain JSON object with three keys, each nested [class][row][feature], without feature
# names. The TreeScoringExplainer over a surrogate is swapped for bankscore's exact explanation
# (Model.explain), so its numbers can be compared with `bankscore serve --contract explain`.
# ---------------------------------------------------------
"""AutoML v1 explainer-shaped score script serving a bankscore model."""

from __future__ import annotations

import io
import logging
import os
from typing import Any

import pandas as pd

from bankscore.server.model import Model, load_model

logger = logging.getLogger("azureml.automl.core.scoring_script")

model: Model


def init() -> None:
    global model
    model = load_model(os.environ["AZUREML_MODEL_DIR"])


def run(raw_data: str) -> dict[str, Any]:
    data = pd.read_json(io.StringIO(raw_data), orient="records")
    explanation = model.explain(data)
    positive = explanation.contributions.tolist()
    negative = (-explanation.contributions).tolist()
    importance = [negative, positive]  # [class][row][feature], classes in the model's order
    return {
        "predictions": list(explanation.predictions),
        "engineered_local_importance_values": importance,
        "raw_local_importance_values": importance,
    }
