"""The Bank Marketing figures the synthetic sampler draws from: aggregates of the real training file.

Frequency tables, quantiles and a small logistic model, all re-derived and checked by
``scripts/derive_synthetic_figures.py``; no row of the real file is here. The sampler that turns
them into rows is `bankscore.bankmarketing.synthetic`.
"""

from __future__ import annotations

from typing import Final

# ---------------------------------------------------------------------------------------------------------
# Design choices (the derivation script reads these to know what to measure).
# ---------------------------------------------------------------------------------------------------------
EURIBOR_PROBS: Final = (0.0, 0.25, 0.5, 0.75, 1.0)
AGE_PROBS: Final = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
DURATION_PROBS: Final = (
    0.0,
    0.001,
    0.01,
    0.05,
    0.1,
    0.2,
    0.3,
    0.4,
    0.5,
    0.6,
    0.7,
    0.8,
    0.9,
    0.95,
    0.99,
    0.999,
    1.0,
)
MARITAL_AGE_BANDS: Final = (24, 29, 34, 39, 49, 59)  # upper bounds (inclusive); the last band is open
CAMPAIGN_HEAD: Final = 10  # campaign values 1..10 come from a table, larger ones from a power law
# The logistic model's categorical columns and their reference (most frequent, coefficient 0) level.
LOGIT_REFERENCE: Final[dict[str, str]] = {
    "job": "admin.",
    "default": "no",
    "contact": "cellular",
    "month": "may",
    "day_of_week": "thu",
    "poutcome": "nonexistent",
}
# Levels this rare may be missed by chance in a few thousand rows; they are then written into a random row
# (these columns have no hard link to any other column, so nothing becomes inconsistent).
RARE_LEVEL_COLUMNS: Final = ("default", "education", "marital")
MIN_ROWS_FOR_ALL_LEVELS: Final = 1_000

# ---------------------------------------------------------------------------------------------------------
# Figures derived from the real training file (32,950 rows) by scripts/derive_synthetic_figures.py.
# Counts are row counts of the real file; level order is schema.CATEGORY_LEVELS order.
# ---------------------------------------------------------------------------------------------------------

# One row per macro-economic period (May 2008 .. Nov 2010), by falling employment, then month:
# (month, emp.var.rate, cons.price.idx, cons.conf.idx, nr.employed, rows, telephone contacts,
#  previously contacted, previous outcome success, euribor3m quantiles at EURIBOR_PROBS)
PeriodRow = tuple[str, float, float, float, float, int, int, int, int, tuple[float, ...]]
PERIODS: Final[tuple[PeriodRow, ...]] = (
    ("jun", 1.4, 94.465, -41.8, 5228.1, 3474, 3474, 0, 0, (4.864, 4.866, 4.959, 4.961, 4.967)),
    ("jul", 1.4, 93.918, -42.7, 5228.1, 5364, 778, 0, 0, (4.955, 4.96, 4.962, 4.963, 4.968)),
    ("aug", 1.4, 93.444, -36.1, 5228.1, 4089, 116, 0, 0, (4.962, 4.963, 4.964, 4.966, 4.97)),
    ("oct", -0.1, 93.798, -40.4, 5195.8, 53, 53, 2, 0, (4.76, 4.86, 4.936, 5.0, 5.045)),
    ("nov", -0.1, 93.2, -42.0, 5195.8, 2907, 288, 585, 30, (3.853, 4.076, 4.12, 4.153, 4.733)),
    ("may", 1.1, 93.994, -36.4, 5191.0, 6210, 6210, 0, 0, (4.855, 4.856, 4.857, 4.859, 4.864)),
    ("dec", -0.2, 92.756, -45.9, 5176.3, 8, 6, 1, 0, (3.282, 3.403, 3.526, 3.688, 3.816)),
    ("mar", -1.8, 92.843, -50.0, 5099.1, 212, 14, 17, 1, (1.51, 1.538, 1.64, 1.726, 1.811)),
    ("apr", -1.8, 93.075, -47.1, 5099.1, 1966, 131, 537, 57, (1.365, 1.405, 1.405, 1.415, 1.498)),
    ("may", -1.8, 92.893, -46.2, 5099.1, 4687, 363, 1532, 109, (1.244, 1.266, 1.291, 1.327, 1.354)),
    ("jun", -2.9, 92.963, -40.8, 5076.2, 595, 54, 156, 53, (1.099, 1.26, 1.262, 1.266, 1.286)),
    ("jul", -2.9, 92.469, -33.6, 5076.2, 140, 20, 33, 9, (0.899, 1.029, 1.044, 1.059, 1.085)),
    ("aug", -2.9, 92.201, -31.4, 5076.2, 613, 58, 261, 110, (0.821, 0.854, 0.873, 0.883, 0.884)),
    ("dec", -3.0, 92.713, -33.0, 5023.5, 136, 20, 72, 39, (0.7, 0.707, 0.714, 0.715, 0.721)),
    ("sep", -3.4, 92.379, -29.8, 5017.5, 214, 24, 92, 45, (0.739, 0.77, 0.781, 0.803, 0.819)),
    ("oct", -3.4, 92.431, -26.9, 5017.5, 354, 44, 137, 53, (0.72, 0.728, 0.739, 0.741, 0.754)),
    ("nov", -3.4, 92.649, -30.1, 5017.5, 286, 39, 151, 74, (0.714, 0.714, 0.715, 0.716, 0.722)),
    ("mar", -1.8, 93.369, -34.8, 5008.7, 209, 33, 129, 64, (0.634, 0.639, 0.646, 0.652, 0.655)),
    ("apr", -1.8, 93.749, -34.6, 5008.7, 142, 19, 74, 38, (0.635, 0.642, 0.644, 0.645, 0.663)),
    ("may", -1.8, 93.876, -40.0, 5008.7, 176, 31, 112, 63, (0.668, 0.682, 0.684, 0.697, 0.701)),
    ("jun", -1.7, 94.055, -39.8, 4991.6, 182, 50, 103, 62, (0.702, 0.715, 0.729, 0.748, 0.767)),
    ("jul", -1.7, 94.215, -40.3, 4991.6, 249, 51, 148, 80, (0.782, 0.822, 0.846, 0.885, 0.899)),
    ("aug", -1.7, 94.027, -38.3, 4991.6, 180, 45, 106, 53, (0.886, 0.898, 0.899, 0.904, 0.905)),
    ("sep", -1.1, 94.199, -37.5, 4963.6, 239, 45, 139, 77, (0.876, 0.879, 0.879, 0.882, 0.886)),
    ("oct", -1.1, 94.601, -49.5, 4963.6, 162, 28, 103, 53, (0.942, 0.977, 0.987, 1.025, 1.045)),
    ("nov", -1.1, 94.767, -50.8, 4963.6, 103, 10, 66, 35, (1.028, 1.039, 1.046, 1.049, 1.05)),
)


DAY_OF_WEEK_COUNTS: Final[tuple[int, ...]] = (6259, 6802, 6937, 6484, 6468)
JOB_COUNTS: Final[tuple[int, ...]] = (8339, 7356, 1193, 854, 2343, 1388, 1140, 3161, 682, 5426, 793, 275)

# Ages at AGE_PROBS.
AGE_QUANTILES_BY_JOB: Final[dict[str, tuple[float, ...]]] = {
    "admin.": (20.0, 24.0, 26.9, 28.0, 31.0, 36.0, 44.0, 52.0, 55.0, 60.0, 72.0),
    "blue-collar": (20.0, 23.0, 26.0, 29.0, 33.0, 39.0, 46.0, 52.0, 55.0, 59.0, 80.0),
    "entrepreneur": (20.0, 25.0, 29.0, 31.0, 35.0, 41.0, 49.0, 55.0, 56.0, 60.0, 69.0),
    "housemaid": (21.0, 25.0, 30.0, 32.0, 37.0, 46.0, 53.0, 58.0, 60.0, 76.0, 85.0),
    "management": (21.0, 25.0, 29.0, 31.0, 35.0, 42.0, 50.0, 55.8, 58.0, 61.0, 80.0),
    "retired": (23.0, 36.0, 48.0, 52.0, 56.0, 59.0, 69.0, 77.0, 81.6, 88.0, 98.0),
    "self-employed": (21.0, 25.0, 27.0, 28.9, 32.0, 39.0, 47.0, 54.0, 57.0, 60.0, 71.0),
    "services": (20.0, 23.0, 25.0, 27.0, 31.0, 36.0, 45.0, 51.0, 55.0, 58.0, 62.0),
    "student": (17.0, 18.0, 19.0, 20.0, 22.0, 25.0, 29.0, 32.0, 36.0, 38.2, 46.0),
    "technician": (20.0, 24.0, 27.0, 29.0, 32.0, 37.0, 44.0, 52.0, 55.0, 59.0, 70.0),
    "unemployed": (21.0, 24.0, 26.0, 28.0, 32.0, 39.0, 47.0, 53.0, 56.0, 59.0, 66.0),
    "unknown": (24.0, 24.7, 27.7, 31.0, 36.0, 45.0, 53.0, 58.0, 61.6, 76.5, 81.0),
}

# (oldest age of the band, marital counts); 200 closes the last band.
MARITAL_COUNTS_BY_AGE: Final[tuple[tuple[int, tuple[int, ...]], ...]] = (
    (24, (3, 115, 748, 0)),
    (29, (103, 1227, 2355, 6)),
    (34, (507, 3742, 2939, 25)),
    (39, (635, 3984, 1653, 8)),
    (49, (1270, 5985, 1158, 9)),
    (59, (978, 4171, 354, 17)),
    (200, (180, 742, 35, 1)),
)

EDUCATION_COUNTS_BY_JOB: Final[dict[str, tuple[int, ...]]] = {
    "admin.": (59, 112, 417, 2686, 1, 284, 4579, 201),
    "blue-collar": (1805, 1143, 2906, 680, 7, 367, 72, 376),
    "entrepreneur": (116, 66, 171, 183, 2, 109, 504, 42),
    "housemaid": (388, 65, 73, 141, 1, 41, 106, 39),
    "management": (85, 70, 134, 234, 0, 71, 1654, 95),
    "retired": (485, 66, 118, 213, 2, 196, 232, 76),
    "self-employed": (83, 23, 163, 96, 2, 146, 604, 23),
    "services": (107, 176, 317, 2114, 0, 179, 150, 118),
    "student": (21, 10, 75, 281, 0, 33, 126, 136),
    "technician": (45, 73, 314, 699, 0, 2684, 1447, 164),
    "unemployed": (91, 26, 147, 200, 0, 109, 205, 15),
    "unknown": (48, 17, 25, 26, 0, 10, 38, 111),
}

DEFAULT_COUNTS_BY_EDUCATION: Final[dict[str, tuple[int, ...]]] = {
    "basic.4y": (1973, 1360, 0),
    "basic.6y": (1164, 683, 0),
    "basic.9y": (3569, 1291, 0),
    "high.school": (6273, 1279, 1),
    "illiterate": (9, 6, 0),
    "professional.course": (3575, 652, 2),
    "university.degree": (8558, 1159, 0),
    "unknown": (943, 453, 0),
}

# housing is "unknown" exactly when loan is.
HOUSING_LOAN_COUNTS: Final[dict[tuple[str, str], int]] = {
    ("no", "no"): 12867,
    ("no", "yes"): 2069,
    ("unknown", "unknown"): 782,
    ("yes", "no"): 14299,
    ("yes", "yes"): 2933,
}

# previous = 1..7 (previous = 0 exactly when poutcome is "nonexistent").
PREVIOUS_COUNTS_BY_POUTCOME: Final[dict[str, tuple[int, ...]]] = {
    "failure": (3017, 338, 72, 21, 2, 1, 0),
    "success": (686, 265, 103, 35, 12, 3, 1),
}

# (rows with pdays != 999, rows); pdays is always 999 when poutcome is "nonexistent".
PDAYS_SET_BY_POUTCOME: Final[dict[str, tuple[int, int]]] = {"failure": (117, 3451), "success": (1105, 1105)}
# The pdays values other than 999.
PDAYS_COUNTS: Final[dict[int, int]] = {
    0: 12,
    1: 22,
    2: 55,
    3: 350,
    4: 93,
    5: 39,
    6: 326,
    7: 47,
    8: 13,
    9: 54,
    10: 39,
    11: 24,
    12: 48,
    13: 30,
    14: 16,
    15: 22,
    16: 8,
    17: 7,
    18: 7,
    19: 3,
    20: 1,
    21: 2,
    22: 2,
    26: 1,
    27: 1,
}

# campaign = 1..CAMPAIGN_HEAD; above it P(k) ∝ k ** -exponent up to the maximum.
CAMPAIGN_HEAD_COUNTS: Final[tuple[int, ...]] = (14148, 8447, 4277, 2097, 1295, 776, 505, 320, 217, 178)
CAMPAIGN_TAIL: Final[tuple[int, float, int]] = (690, 3.48, 56)  # (rows above the head, exponent, maximum)

# Seconds at DURATION_PROBS (interpolated on a log scale).
DURATION_QUANTILES: Final[tuple[float, ...]] = (
    0.0,
    5.0,
    11.0,
    36.0,
    59.0,
    88.0,
    116.0,
    145.6,
    179.0,
    221.0,
    279.0,
    367.0,
    550.0,
    746.0,
    1258.5,
    2094.5,
    4918.0,
)

YES_RATE: Final = 0.112  # share of y == "yes"

# Logistic model of y == "yes" (sklearn, L2, C=1), fitted on the real rows: log-odds = intercept + one
# coefficient per level (LOGIT_REFERENCE levels, and levels not listed, are 0) + LOGIT_TERMS · logit_terms().
LOGIT_LEVELS: Final[dict[str, dict[str, float]]] = {
    "job": {
        "blue-collar": -0.361,
        "entrepreneur": -0.189,
        "housemaid": -0.029,
        "management": 0.035,
        "retired": 0.278,
        "self-employed": -0.068,
        "services": -0.276,
        "student": 0.203,
        "technician": -0.084,
        "unemployed": 0.024,
        "unknown": -0.184,
    },
    "default": {"unknown": -0.303, "yes": -0.005},
    "contact": {"telephone": -0.259},
    "month": {
        "apr": 0.696,
        "aug": 1.222,
        "dec": 0.767,
        "jul": 1.019,
        "jun": 1.286,
        "mar": 2.347,
        "nov": 0.651,
        "oct": 0.861,
        "sep": 0.484,
    },
    "day_of_week": {"fri": -0.013, "mon": -0.148, "tue": 0.057, "wed": 0.144},
    "poutcome": {"failure": -0.603, "success": 0.521},
}
LOGIT_TERMS: Final[dict[str, float]] = {
    "log1p(duration)": 2.1859,
    "log(campaign)": -0.1052,
    "pdays != 999": 0.8185,
    "(nr.employed - 5000) / 100": -1.4505,
}
# -12.921 as fitted; calibrated so that synthetic rows have the real yes rate.
LOGIT_INTERCEPT: Final = -12.782
