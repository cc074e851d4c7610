"""LightGBM's TreeSHAP, exactly, from tables precomputed per leaf: several times faster than `pred_contrib`.

Path-dependent TreeSHAP (what LightGBM's `pred_contrib` computes) gives each leaf's share of a row's
contributions as a function of one thing only: which of the features on the leaf's path the row agrees
with (its "pattern", one bit per distinct feature). With d distinct features on the path and z_j the share
of training rows that went the leaf's way at feature j's splits, feature k's contribution is

    v · (o_k − z_k) · Σ_{S ⊆ A∖{k}} |S|!(d−1−|S|)!/d! · Π_{j ∈ F∖S∖{k}} z_j

(v the leaf value, A the features the row agrees with, o_k = 1 when k is one of them). That is tabulated
once per leaf for all 2^d patterns (Fast TreeSHAP v2, Yang 2021), so explaining a row is a few table
look-ups per leaf, done in numpy for many rows at once, instead of LightGBM's O(depth²) walk per leaf.
The numbers are LightGBM's up to float rounding (tests/server/test_explain.py compares them).

A model whose tables would be too large (very deep paths) returns None from `build`; its caller then uses
LightGBM's `pred_contrib`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import lightgbm as lgb

FloatMatrix = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MAX_PATH_FEATURES: Final = 14  # 2^14 patterns × 14 features per leaf at most
MAX_TABLE_VALUES: Final = 1 << 23  # 64 MB of tables per booster at most
ROWS_PER_CHUNK: Final = 256  # keeps the per-chunk arrays (items × rows) in cache
_ZERO_THRESHOLD: Final = 1e-35  # LightGBM's kZeroThreshold, for missing_type "Zero"
_MISSING: Final = {"None": 0, "Zero": 1, "NaN": 2}


@dataclass(frozen=True)
class _Leaf:
    value: float
    share: float  # leaf_count / root count: its weight in the expected value
    features: tuple[int, ...]  # distinct features on the path, in order of first appearance
    steps: tuple[tuple[tuple[int, bool], ...], ...]  # per feature: (node index, goes right) on the path
    zero: tuple[float, ...]  # per feature: the share of training rows that went this way at its splits


class TreeShap:
    """Exact TreeSHAP for one LightGBM booster (binary or regression: one raw score)."""

    def __init__(self, booster: lgb.Booster) -> None:
        dump: dict[str, Any] = booster.dump_model()
        self.n_features = int(dump["max_feature_idx"]) + 1
        nodes: list[dict[str, Any]] = []
        leaves: list[_Leaf] = []
        self.base_value = 0.0
        for tree in dump["tree_info"]:
            root = tree["tree_structure"]
            if "split_index" not in root:  # a tree of one leaf: only the base value
                self.base_value += float(root["leaf_value"])
                continue
            tree_leaves: list[_Leaf] = []
            _walk(root, float(root["internal_count"]), [], nodes, tree_leaves)
            leaves.extend(tree_leaves)
            self.base_value += math.fsum(leaf.value * leaf.share for leaf in tree_leaves)
        self._nodes(nodes)
        self._leaves([leaf for leaf in leaves if leaf.features])

    # --------------------------------------------------------------------------------- building

    def _nodes(self, nodes: list[dict[str, Any]]) -> None:
        """Every split of every tree, numeric ones first, as arrays: one decision per split and row."""
        categorical = [n["decision_type"] == "==" for n in nodes]
        order = [i for i, c in enumerate(categorical) if not c] + [i for i, c in enumerate(categorical) if c]
        self.position = np.empty(len(nodes), dtype=np.intp)  # a split's walk index → its row of decisions
        self.position[order] = np.arange(len(nodes))
        numeric = [nodes[i] for i in order if not categorical[i]]
        self.n_numeric = len(numeric)
        self.numeric_feature = np.asarray([n["split_feature"] for n in numeric], dtype=np.intp)
        self.numeric_features = np.unique(self.numeric_feature)
        self.threshold = np.asarray([float(n["threshold"]) for n in numeric], dtype=np.float64)[:, None]
        missing = np.asarray([_MISSING[n["missing_type"]] for n in numeric], dtype=np.int8)[:, None]
        self.nan_aware = missing == _MISSING["NaN"]
        self.zero_missing = missing == _MISSING["Zero"]
        self.default_left = np.asarray([bool(n["default_left"]) for n in numeric], dtype=bool)[:, None]
        split = [nodes[i] for i in order if categorical[i]]
        self.categorical_feature = np.asarray([n["split_feature"] for n in split], dtype=np.intp)
        sets = [[int(c) for c in str(n["threshold"]).split("||")] for n in split]
        width = max((max(s) for s in sets), default=0) + 1
        self.category_left = np.zeros((len(sets), width), dtype=bool)  # split × category → goes left
        for row, categories in enumerate(sets):
            self.category_left[row, categories] = True
        self.category_rows = np.arange(len(sets))[:, None]
        self.n_nodes = len(nodes)

    def _leaves(self, leaves: list[_Leaf]) -> None:
        """The per-leaf tables, and the (leaf, feature) pairs laid out so that explaining is mostly slicing.

        Leaves go longest path first and pairs bit-major (every leaf's first feature, then every leaf's second,
        ...), so a leaf's pattern is built bit by bit from contiguous slices; a pair's splits are ANDed rank by
        rank (its second split, where it has one, then its third, ...). np.*.reduceat over so many short groups
        would be several times slower.
        """
        leaves = sorted(leaves, key=lambda leaf: -len(leaf.features))
        sizes = [len(leaf.features) for leaf in leaves]
        if max(sizes, default=0) > MAX_PATH_FEATURES or sum((1 << d) * d for d in sizes) > MAX_TABLE_VALUES:
            raise _TooLarge
        pair_leaf: list[int] = []
        pair_bit: list[int] = []
        self.bit_slices: list[tuple[int, slice]] = []  # per bit: how many leaves have it, and their pairs
        for bit in range(max(sizes, default=0)):
            count = sum(1 for d in sizes if d > bit)
            self.bit_slices.append((count, slice(len(pair_leaf), len(pair_leaf) + count)))
            pair_leaf.extend(range(count))
            pair_bit.extend([bit] * count)
        # Per rank r ≥ 1: the pairs with an r-th split, and that split's row in [went left; went right].
        later: list[tuple[list[int], list[int]]] = []
        first: list[int] = []
        features: list[int] = []
        for pair, (index, bit) in enumerate(zip(pair_leaf, pair_bit, strict=True)):
            leaf = leaves[index]
            features.append(leaf.features[bit])
            for rank, (node, right) in enumerate(leaf.steps[bit]):
                row = int(self.position[node]) + self.n_nodes * right
                if rank == 0:
                    first.append(row)
                    continue
                if rank > len(later):
                    later.append(([], []))
                later[rank - 1][0].append(pair)
                later[rank - 1][1].append(row)
        self.first_steps = np.asarray(first, dtype=np.intp)
        self.later_steps = [(np.asarray(a, dtype=np.intp), np.asarray(b, dtype=np.intp)) for a, b in later]
        tables = [_leaf_table(leaf.value, np.asarray(leaf.zero, dtype=np.float64)).ravel() for leaf in leaves]
        offsets = np.cumsum([0, *(t.size for t in tables)])[:-1]
        self.leaf_width = np.asarray(sizes, dtype=np.int32)[:, None]
        self.leaf_offset = np.asarray(offsets, dtype=np.int32)[:, None]
        self.table = np.concatenate(tables) if tables else np.zeros(0)
        # Per feature: its pairs' leaves and bits, to look its values up and sum them one feature at a time
        # (the values of all pairs at once would not stay in cache).
        by_pair = np.asarray(features, dtype=np.intp)
        leaves_of = np.asarray(pair_leaf, dtype=np.intp)
        bits_of = np.asarray(pair_bit, dtype=np.int32)
        self.features_present = np.unique(by_pair)
        self.per_feature = [
            (leaves_of[by_pair == f], bits_of[by_pair == f][:, None]) for f in self.features_present.tolist()
        ]

    # --------------------------------------------------------------------------------- explaining

    def contributions(self, matrix: FloatMatrix) -> FloatMatrix:
        """rows × features: each feature's contribution to each row's raw score."""
        out = np.zeros((matrix.shape[0], self.n_features), dtype=np.float64)
        for start in range(0, matrix.shape[0], ROWS_PER_CHUNK):
            chunk = np.ascontiguousarray(matrix[start : start + ROWS_PER_CHUNK].T)  # features × rows
            out[start : start + ROWS_PER_CHUNK, self.features_present] = self._chunk(chunk).T
        return out

    def _chunk(self, columns: FloatMatrix) -> FloatMatrix:
        went = self._decisions(columns)  # [went left; went right] per node, × rows
        # (leaf, feature) pairs × rows: does the row go the leaf's way at all the feature's splits on its path
        agrees = went[self.first_steps]
        for pairs, steps in self.later_steps:
            agrees[pairs] &= went[steps]
        patterns = np.zeros((len(self.leaf_width), columns.shape[1]), dtype=np.int32)  # leaves × rows
        for bit, (count, block) in enumerate(self.bit_slices):
            patterns[:count] |= agrees[block].astype(np.int32) << bit
        where = patterns * self.leaf_width + self.leaf_offset  # each leaf's row of its table, per row
        result: FloatMatrix = np.stack(
            [np.take(self.table, where[leaves] + bits).sum(axis=0) for leaves, bits in self.per_feature]
        )
        return result

    def _decisions(self, columns: FloatMatrix) -> npt.NDArray[np.bool_]:
        """[went left; went right] per split and row, as LightGBM's NumericalDecision and CategoricalDecision."""
        went = np.empty((2 * self.n_nodes, columns.shape[1]), dtype=bool)
        left = went[: self.n_nodes]
        values = columns[self.numeric_feature]
        if np.isnan(columns[self.numeric_features]).any() or self.zero_missing.any():
            missing = np.isnan(values)
            values = np.where(missing & ~self.nan_aware, 0.0, values)  # NaN is 0.0 unless the split learnt NaN
            default = (self.nan_aware & missing) | (self.zero_missing & (np.abs(values) <= _ZERO_THRESHOLD))
            left[: self.n_numeric] = np.where(default, self.default_left, values <= self.threshold)
        else:
            np.less_equal(values, self.threshold, out=left[: self.n_numeric])
        if len(self.categorical_feature):
            codes = columns[self.categorical_feature]
            with np.errstate(invalid="ignore"):  # NaN, negative and unknown categories go right
                valid = ~np.isnan(codes) & (codes > -1) & (codes < self.category_left.shape[1])
            index = np.where(valid, codes, 0).astype(np.intp)  # truncated towards zero, as C++'s int cast
            np.logical_and(valid, self.category_left[self.category_rows, index], out=left[self.n_numeric :])
        np.logical_not(left, out=went[self.n_nodes :])
        return went


class _TooLarge(Exception):
    pass


def build(booster: lgb.Booster) -> TreeShap | None:
    """The tables for a booster, or None when they would be too large (LightGBM's pred_contrib then)."""
    try:
        return TreeShap(booster)
    except _TooLarge:
        return None


def _walk(
    node: dict[str, Any],
    count: float,
    path: list[tuple[int, int, bool, float]],
    nodes: list[dict[str, Any]],
    leaves: list[_Leaf],
) -> None:
    """Depth-first over a dumped tree; `path` holds (feature, node index, goes right, share that went so)."""
    if "split_index" not in node:
        features: list[int] = []
        steps: dict[int, list[tuple[int, bool]]] = {}
        zero: dict[int, float] = {}
        for feature, index, right, share in path:
            if feature not in steps:
                features.append(feature)
                steps[feature], zero[feature] = [], 1.0
            steps[feature].append((index, right))
            zero[feature] *= share
        leaves.append(
            _Leaf(
                value=float(node["leaf_value"]),
                share=float(node["leaf_count"]) / count,
                features=tuple(features),
                steps=tuple(tuple(steps[f]) for f in features),
                zero=tuple(zero[f] for f in features),
            )
        )
        return
    index = len(nodes)
    nodes.append(node)
    total = float(node["internal_count"])
    for child, right in ((node["left_child"], False), (node["right_child"], True)):
        child_count = float(child["internal_count"] if "split_index" in child else child["leaf_count"])
        share = child_count / total if total else 0.0
        _walk(child, count, [*path, (int(node["split_feature"]), index, right, share)], nodes, leaves)


def _leaf_table(value: float, zero: FloatMatrix) -> FloatMatrix:
    """patterns × features: the leaf's contribution to each feature for every pattern A (bit k: agrees on k)."""
    d = len(zero)
    masks = np.arange(1 << d)
    bits = ((masks[:, None] >> np.arange(d)) & 1).astype(bool)  # pattern × feature
    count = bits.sum(axis=1)
    # Elementary symmetric polynomials of the zero fractions over each pattern's features: e[mask, m].
    e = np.zeros((1 << d, d + 1))
    e[0, 0] = 1.0
    for i in range(d):
        half = 1 << i
        e[half : 2 * half] = e[:half]
        e[half : 2 * half, 1:] += zero[i] * e[:half, :-1]
    # Shapley weights w(s) = s!(d-1-s)!/d!, for s = 0..d-1.
    w = np.asarray([math.factorial(s) * math.factorial(d - 1 - s) / math.factorial(d) for s in range(d)])
    # h[B] = Σ_{S ⊆ B} w(|S|) Π_{j ∈ B∖S} z_j = Σ_m e_m(B) w(|B| − m), for |B| ≤ d − 1.
    m = np.arange(d + 1)
    s = count[:, None] - m[None, :]
    usable = (s >= 0) & (s <= d - 1)
    h = np.where(usable, e * w[np.clip(s, 0, d - 1)], 0.0).sum(axis=1)
    # Π of the zero fractions of the features outside a pattern.
    outside = np.where(bits, 1.0, zero[None, :]).prod(axis=1)
    k = 1 << np.arange(d)
    with_k = masks[:, None] | k[None, :]
    without_k = masks[:, None] & ~k[None, :]
    table: FloatMatrix = value * (bits - zero[None, :]) * outside[with_k] * h[without_k]
    return table
