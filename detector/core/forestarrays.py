"""The Isolation Forest's scores for a whole batch in a few numpy calls, equal to scikit-learn's.

`IsolationForest.score_samples` walks each tree in a separate call through joblib: about
3.5 ms per call whatever the batch (50 trees), so 10 us a row at 500 rows and 3.5 ms for
one. `ForestArrays` copies the fitted trees once into flat arrays, and `isolation` moves
every row down every tree at once, one level per step (about 3 us a row, 0.1 ms for one).

Exact, not approximate: the same comparisons (a float32 value against the float64
threshold, `<=` goes left, NaN where the node sends missing values), the same per-leaf path
length, added tree by tree in the same order, and the same final `2 ** (-depth /
denominator)`. `pack` proves it on the training rows at every fit, and returns None
(scikit-learn then scores) if any value differs or a private attribute it reads has changed
in another scikit-learn release. (The kernel's compiled walk, `detector.kernel.forest`, is
held equal to `_depths` by tests, not at each fit; it walks `ForestArrays.complete`, the
same trees laid out level by level.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:  # only a fitted forest is packed: scikit-learn is loaded by then
    from sklearn.ensemble import IsolationForest

#: Another way to find `ForestArrays._depths`' path lengths (the same floats).
Walk = Callable[["ForestArrays", NDArray[np.float32]], NDArray[np.float64]]

_LEAF = -1  # scikit-learn's _TREE_LEAF: a node without children
#: Rows moved down the trees together: (rows x trees) index arrays of this size stay in the
#: CPU's cache (at 8,192 rows at once the walk took twice as long per row as at 500).
CHUNK = 512
#: The most nodes `ForestArrays.complete` lays out (trees x 2 ** (levels + 1): 25,600 at the
#: defaults, 50 trees of 256 samples); a larger forest has none (~24 bytes a node).
COMPLETE_NODES = 1 << 20


class Complete(NamedTuple):
    """Every tree as a complete binary tree of `levels` levels, numbered level by level (a
    heap: node h's children are 2h + 1, left, and 2h + 2): row t is tree t. A node at a leaf
    of the tree, or below one, repeats the leaf; those `levels` deep are `leaf_length`'s."""

    feature: NDArray[np.intp]  # (trees, 2 ** levels - 1): the nodes above the last level
    threshold: NDArray[np.float64]  # (trees, 2 ** levels - 1)
    leaf_length: NDArray[np.float64]  # (trees, 2 ** levels): the last level's, left to right


@dataclass(frozen=True)
class ForestArrays:
    """Every node of every tree of one fitted forest, numbered tree by tree (tree t's node n
    is t * nodes_per_tree + n); a leaf's two children are itself."""

    children: NDArray[np.intp]  # node n's left child at 2n, its right child at 2n + 1
    feature: NDArray[np.intp]  # 0 at a leaf
    threshold: NDArray[np.float64]
    nan_left: NDArray[np.bool_]
    #: the node's depth + the average path length of the training rows left in it - 1, as
    #: scikit-learn adds it per tree (`_parallel_compute_tree_depths`)
    leaf_length: NDArray[np.float64]
    roots: NDArray[np.intp]  # each tree's first node
    levels: int  # the deepest tree's depth
    denominator: float
    width: int

    def isolation(self, matrix: NDArray[np.float64], walk: Walk | None = None
                  ) -> NDArray[np.float64]:
        """`-forest.score_samples(matrix)`: 2 ** (-mean path length / c(max_samples)).
        `walk`, when given, finds the path lengths instead of `_depths` (the same floats:
        the compiled kernel's, `detector.kernel.forest.depths`)."""
        x = np.ascontiguousarray(matrix, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.width:
            raise ValueError(f"expected rows of {self.width} features, got shape {x.shape}")
        if walk is not None:
            depths = walk(self, x)
        elif len(x) <= CHUNK:
            depths = self._depths(x)
        else:  # in chunks that stay in the CPU's cache (a row's depth is its own)
            depths = np.concatenate([self._depths(x[i:i + CHUNK])
                                     for i in range(0, len(x), CHUNK)])
        # as scikit-learn writes it, a zero denominator (one training row) included
        share = np.divide(depths, self.denominator, out=np.ones_like(depths),
                          where=self.denominator != 0)
        return np.asarray(2 ** (-share), dtype=np.float64)

    def _depths(self, x: NDArray[np.float32]) -> NDArray[np.float64]:
        """Each row's path lengths, summed over the trees in their order."""
        rows = len(x)
        node = np.broadcast_to(self.roots, (rows, len(self.roots))).copy()  # (row, tree)
        start = (np.arange(rows, dtype=np.intp) * self.width)[:, None]
        flat = x.ravel()
        for _ in range(self.levels):  # a row at a leaf stays there
            value = flat[start + self.feature[node]]
            left = value <= self.threshold[node]
            missing = np.isnan(value)
            if missing.any():  # NaN compares false: it goes where the node sends it
                left |= missing & self.nan_left[node]
            node = self.children[2 * node + ~left]
        lengths = self.leaf_length[node]
        depths = np.zeros(rows)
        for tree in range(lengths.shape[1]):  # tree by tree, as scikit-learn adds them
            depths += lengths[:, tree]
        return depths

    @cached_property
    def complete(self) -> Complete | None:
        """The trees as complete binary trees (`Complete`), or None beyond `COMPLETE_NODES`:
        node h of the layout is the node the walk reaches after the same turns, so a walk
        down it makes `_depths`' comparisons in the same order and ends at the same leaf (a
        leaf's children are itself, so below a leaf either turn repeats it). Made once, at
        the first walk (~0.1 ms at the defaults)."""
        trees = len(self.roots)
        if trees << (self.levels + 1) > COMPLETE_NODES:
            return None
        nodes = self.roots[:, None]  # (tree, node of the level), left to right
        pairs = self.children.reshape(-1, 2)
        features, thresholds = [], []
        for _ in range(self.levels):
            features.append(self.feature[nodes])
            thresholds.append(self.threshold[nodes])
            nodes = pairs[nodes].reshape(trees, -1)  # each node's left child, then its right
        feature = (np.concatenate(features, axis=1) if features
                   else np.zeros((trees, 0), np.intp))
        threshold = (np.concatenate(thresholds, axis=1) if thresholds
                     else np.zeros((trees, 0), np.float64))
        return Complete(np.ascontiguousarray(feature), np.ascontiguousarray(threshold),
                        np.ascontiguousarray(self.leaf_length[nodes]))


def pack(forest: IsolationForest, training: NDArray[np.float64],
         expected: NDArray[np.float64]) -> ForestArrays | None:
    """The forest as arrays, or None if they would not give `expected` (scikit-learn's
    `-score_samples(training)`) to the bit; then the caller keeps scikit-learn."""
    try:
        arrays = _arrays(forest)
    except (AttributeError, ImportError, TypeError, ValueError):
        return None
    if not np.array_equal(arrays.isolation(training), expected):
        return None
    return arrays


def _arrays(forest: IsolationForest) -> ForestArrays:
    # Private names of scikit-learn; a release without them makes pack() return None.
    from sklearn.ensemble._iforest import _average_path_length

    width = int(forest.n_features_in_)
    if forest._max_features != width:  # features subsampled per tree: not supported here
        raise ValueError("max_features below 1.0")
    trees = [estimator.tree_ for estimator in forest.estimators_]
    size = max(tree.node_count for tree in trees)
    total = len(trees) * size
    children = np.zeros((total, 2), dtype=np.intp)
    feature = np.zeros(total, dtype=np.intp)
    threshold = np.zeros(total, dtype=np.float64)
    nan_left = np.zeros(total, dtype=np.bool_)
    leaf_length = np.zeros(total, dtype=np.float64)
    for t, tree in enumerate(trees):
        n, first = tree.node_count, t * size
        own = slice(first, first + n)
        inner = tree.children_left != _LEAF
        itself = np.arange(n)
        children[own, 0] = first + np.where(inner, tree.children_left, itself)
        children[own, 1] = first + np.where(inner, tree.children_right, itself)
        feature[own] = np.where(inner, tree.feature, 0)
        threshold[own] = tree.threshold
        nan_left[own] = tree.missing_go_to_left.astype(np.bool_)
        leaf_length[own] = (forest._decision_path_lengths[t]
                            + forest._average_path_length_per_tree[t] - 1.0)
    denominator = len(trees) * float(_average_path_length([forest._max_samples])[0])
    children = children.ravel()
    roots = np.arange(len(trees), dtype=np.intp) * size
    levels = max(int(tree.max_depth) for tree in trees)
    return ForestArrays(children, feature, threshold, nan_left, leaf_length, roots, levels,
                        denominator, width)
