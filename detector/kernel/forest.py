"""The Isolation Forest's path lengths for a batch in one compiled call: each tree, every row
down it node by node, instead of `ForestArrays._depths`' numpy steps over every (row, tree)
pair at once (docs/kernel.md (h)).

The same comparisons (the float32 value against the float64 threshold, `<=` goes left, NaN
where the node sends missing values) and the same sum, tree by tree in order from 0.0, so
the same floats to the bit (tests/unit/test_kernel_forest.py, and the engine's parity
tests through refits: tests/unit/test_kernel_engine.py).

A batch without missing values walks the trees as complete binary trees
(`ForestArrays.complete`, `_walk_complete`): a node's children are 2h + 1 and 2h + 2, so a
step reads a node's feature and threshold and no child index, and asks nothing of NaN:
~0.6 against ~1.3 us a row at the defaults (docs/benchmarks.md, "Issue 14: the forest
walked as complete trees"). A batch with one, or a forest too large to lay out, walks the
nodes as numbered (`_walk`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from detector.core.forestarrays import ForestArrays
from detector.kernel.jit import jit


@jit
def _walk(x: Any, children: Any, feature: Any, threshold: Any, nan_left: Any,
          leaf_length: Any, roots: Any, levels: int, out: Any) -> None:  # pragma: no cover
    # Tree by tree, every row down each: one tree's nodes stay in the nearest cache for the
    # whole batch (the whole forest does not). Level by level over the rows, `levels` steps
    # whatever the leaf's depth (a leaf's children are itself): each step's rows are
    # independent, and the way down is an index, not a branch (a row goes left or right
    # at random, so a branch mispredicted half the time, ~2x slower). Each row's sum
    # still adds the trees in order from 0.0.
    n = x.shape[0]
    node = np.empty(n, np.intp)
    for i in range(n):
        out[i] = 0.0
    for t in range(roots.shape[0]):
        root = roots[t]
        for i in range(n):
            node[i] = root
        for _ in range(levels):
            for i in range(n):
                m = node[i]
                value = x[i, feature[m]]
                # NaN compares false (unequal to itself) and goes where the node sends it
                left = (value <= threshold[m]) | ((value != value) & nan_left[m])
                node[i] = children[2 * m + 1 - left]
        for i in range(n):
            out[i] += leaf_length[node[i]]


@jit
def _walk_complete(x: Any, feature: Any, threshold: Any, leaf_length: Any, levels: int,
                   out: Any) -> bool:  # pragma: no cover
    # `_walk` down `ForestArrays.complete`, for rows without NaN (False, nothing walked, if
    # any value is NaN): tree by tree, level by level over the rows; node h's children are
    # 2h + 1 (left) and 2h + 2, the last level's nodes from 2 ** levels - 1 on. Each row's
    # sum adds the trees in order from 0.0.
    n = x.shape[0]
    for i in range(n):
        for j in range(x.shape[1]):
            if x[i, j] != x[i, j]:
                return False
    node = np.empty(n, np.intp)
    last = (1 << levels) - 1
    for i in range(n):
        out[i] = 0.0
    for t in range(feature.shape[0]):
        tree_feature = feature[t]
        tree_threshold = threshold[t]
        tree_leaf = leaf_length[t]
        for i in range(n):
            node[i] = 0
        for _ in range(levels):
            for i in range(n):
                m = node[i]
                node[i] = 2 * m + 2 - (x[i, tree_feature[m]] <= tree_threshold[m])
        for i in range(n):
            out[i] += tree_leaf[node[i] - last]
    return True


def depths(arrays: ForestArrays, x: NDArray[np.float32]) -> NDArray[np.float64]:
    """`ForestArrays._depths(x)`: each row's path lengths summed over the trees."""
    out = np.empty(len(x))
    complete = arrays.complete
    if complete is None or not _walk_complete(x, complete.feature, complete.threshold,
                                              complete.leaf_length, arrays.levels, out):
        _walk(x, arrays.children, arrays.feature, arrays.threshold, arrays.nan_left,
              arrays.leaf_length, arrays.roots, arrays.levels, out)
    return out
