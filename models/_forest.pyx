# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""A LightGBM tree ensemble walked in C: raw scores and leaf indices, exactly LightGBM's.

`Booster.predict` costs ~25–50 µs a call before any tree is walked (argument checks, a
ctypes call, a predictor set up per call); one row through ~200 shallow trees is a few
microseconds of work. `Forest` is built once from the booster's own model text (the text
LightGBM itself loads: thresholds and leaf values with 17 significant digits, so every
double is the booster's) and walks the trees with LightGBM's decision rules (tree.h,
LightGBM 4.x):

- numerical split: NaN becomes 0.0 unless the node's missing type is NaN; a missing value
  (Zero: |x| <= 1e-35f, NaN: NaN) goes to the node's default side; else `x <= threshold`
  goes left;
- categorical split: NaN and negative values go right; else left iff the value's bit is set
  in the node's bitset;
- the input row as LightGBM's dense-row reader sees it: |x| <= 1e-35f is 0.0;
- raw score of class k: 0.0 plus tree(i * k_per_iteration + k) for each iteration i, in
  tree order — the same additions in the same order, so the same double.

`tests/models/test_forest.py` holds it bit-equal to `Booster.predict(raw_score=True)` and
`pred_leaf=True` on trained boosters, missing and unseen values included.
"""

from libc.math cimport isnan, fabs
from libc.stdint cimport int32_t, int64_t, uint32_t

import numpy as np

# LightGBM's kZeroThreshold is the float literal 1e-35f, compared as a double
cdef double _ZERO = <double><float>1e-35


cdef class Forest:
    """The trees of one booster; `raw(X)` and `leaves(X)` for float64 matrices."""

    cdef readonly int n_trees, n_classes, n_features
    cdef int32_t[::1] _root  # a tree's first node, or ~leaf for a one-leaf tree
    cdef int32_t[::1] _feature
    cdef double[::1] _threshold
    cdef unsigned char[::1] _dtype
    cdef int32_t[::1] _left, _right  # >= 0: a node (global), < 0: ~leaf (global)
    cdef int32_t[::1] _cat_start, _cat_len  # a categorical node's words in _bits
    cdef uint32_t[::1] _bits
    cdef double[::1] _leaf_value
    cdef int32_t[::1] _leaf_offset  # a tree's first leaf (global)

    def __init__(self, str model_text):
        trees = _parse(model_text)
        head = model_text[:model_text.find("Tree=")]
        info = dict(line.split("=", 1) for line in head.splitlines() if "=" in line)
        self.n_classes = int(info.get("num_tree_per_iteration", "1"))
        self.n_features = int(info["max_feature_idx"]) + 1
        self.n_trees = len(trees)
        root, feature, threshold, dtype, left, right, cat_start, cat_len = [], [], [], [], [], [], [], []
        bits, leaf_value, leaf_offset = [], [], []
        for t in trees:
            if t.get("is_linear", "0") != "0":
                raise ValueError("linear trees are not supported by the compiled forest")
            node0, leaf0 = len(feature), len(leaf_value)
            leaf_offset.append(leaf0)
            leaf_value += [float(v) for v in t["leaf_value"].split()]
            n_leaves = int(t["num_leaves"])
            if n_leaves == 1:
                root.append(~leaf0)
                continue
            root.append(node0)
            bounds = [int(v) for v in t.get("cat_boundaries", "").split()]
            words = [int(v) for v in t.get("cat_threshold", "").split()]
            bits0 = len(bits)
            bits += words
            thresholds = [float(v) for v in t["threshold"].split()]
            types = [int(v) for v in t["decision_type"].split()]
            feature += [int(v) for v in t["split_feature"].split()]
            for i, (thr, dt) in enumerate(zip(thresholds, types)):
                threshold.append(thr)
                dtype.append(dt)
                if dt & 1:  # categorical: the threshold is the index of its bitset
                    c = int(thr)
                    cat_start.append(bits0 + bounds[c])
                    cat_len.append(bounds[c + 1] - bounds[c])
                else:
                    cat_start.append(0)
                    cat_len.append(0)
            for side, out in (("left_child", left), ("right_child", right)):
                for v in t[side].split():
                    child = int(v)
                    out.append(node0 + child if child >= 0 else ~(leaf0 + ~child))
        self._root = np.asarray(root, dtype=np.int32)
        self._feature = np.asarray(feature, dtype=np.int32)
        self._threshold = np.asarray(threshold, dtype=np.float64)
        self._dtype = np.asarray(dtype, dtype=np.uint8)
        self._left = np.asarray(left, dtype=np.int32)
        self._right = np.asarray(right, dtype=np.int32)
        self._cat_start = np.asarray(cat_start, dtype=np.int32)
        self._cat_len = np.asarray(cat_len, dtype=np.int32)
        self._bits = np.asarray(bits, dtype=np.uint32)
        self._leaf_value = np.asarray(leaf_value, dtype=np.float64)
        self._leaf_offset = np.asarray(leaf_offset, dtype=np.int32)

    cdef inline int32_t _leaf(self, const double* x, int t) noexcept nogil:
        """Tree t's global leaf index for row x."""
        cdef int32_t node = self._root[t]
        cdef double v
        cdef unsigned char dt, missing
        cdef int iv
        cdef int32_t word
        while node >= 0:
            v = x[self._feature[node]]
            if fabs(v) <= _ZERO:
                v = 0.0
            dt = self._dtype[node]
            if dt & 1:
                if isnan(v) or v < 0.0:
                    node = self._right[node]
                    continue
                if v >= 2147483648.0:
                    node = self._right[node]
                    continue
                iv = <int>v
                word = iv >> 5
                if word < self._cat_len[node] and (self._bits[self._cat_start[node] + word] >> (iv & 31)) & 1:
                    node = self._left[node]
                else:
                    node = self._right[node]
                continue
            missing = (dt >> 2) & 3
            if missing != 2 and isnan(v):
                v = 0.0
            if (missing == 1 and fabs(v) <= _ZERO) or (missing == 2 and isnan(v)):
                node = self._left[node] if dt & 2 else self._right[node]
            elif v <= self._threshold[node]:
                node = self._left[node]
            else:
                node = self._right[node]
        return ~node

    def raw(self, const double[:, ::1] X):
        """Raw scores, (n, n_classes) float64: what `Booster.predict(X, raw_score=True)` gives
        (there (n,) for one class)."""
        if X.shape[1] != self.n_features:
            raise ValueError(f"X has {X.shape[1]} columns; the forest reads {self.n_features}")
        cdef Py_ssize_t n = X.shape[0], i
        cdef int t, k = self.n_classes
        out = np.zeros((n, k), dtype=np.float64)
        cdef double[:, ::1] o = out
        with nogil:
            for i in range(n):
                for t in range(self.n_trees):
                    o[i, t % k] += self._leaf_value[self._leaf(&X[i, 0], t)]
        return out

    def leaves(self, const double[:, ::1] X):
        """Each row's leaf in each tree, (n, n_trees) int32 of within-tree leaf indices: what
        `Booster.predict(X, pred_leaf=True)` gives."""
        if X.shape[1] != self.n_features:
            raise ValueError(f"X has {X.shape[1]} columns; the forest reads {self.n_features}")
        cdef Py_ssize_t n = X.shape[0], i
        cdef int t
        out = np.empty((n, self.n_trees), dtype=np.int32)
        cdef int32_t[:, ::1] o = out
        with nogil:
            for i in range(n):
                for t in range(self.n_trees):
                    o[i, t] = self._leaf(&X[i, 0], t) - self._leaf_offset[t]
        return out

    def leaf_sums(self, const double[:, ::1] X, LeafTable table, int class_index=0):
        """Σ over the trees of class `class_index` of the reached leaf's row of `table`, per
        row: (n, table.n_cols). With a path-attribution table (`models.explain.PathExplainer`,
        one row per leaf in tree order) these are the rows' contributions, summed in tree
        order — each leaf's nonzero cells only (a path touches a few features): the same
        doubles as adding its whole row, since adding 0.0 changes nothing."""
        if X.shape[1] != self.n_features:
            raise ValueError(f"X has {X.shape[1]} columns; the forest reads {self.n_features}")
        if table.n_leaves != self._leaf_value.shape[0]:
            raise ValueError(f"table has {table.n_leaves} rows; the forest has {self._leaf_value.shape[0]} leaves")
        cdef Py_ssize_t n = X.shape[0], i
        cdef int64_t c
        cdef int t, k = self.n_classes
        cdef int32_t leaf
        out = np.zeros((n, table.n_cols), dtype=np.float64)
        cdef double[:, ::1] o = out
        cdef int64_t[::1] ptr = table._ptr
        cdef int32_t[::1] col = table._col
        cdef double[::1] val = table._val
        with nogil:
            for i in range(n):
                t = class_index
                while t < self.n_trees:
                    leaf = self._leaf(&X[i, 0], t)
                    for c in range(ptr[leaf], ptr[leaf + 1]):
                        o[i, col[c]] += val[c]
                    t += k
        return out


cdef class LeafTable:
    """A (leaves, columns) table kept as each row's nonzero cells (for `Forest.leaf_sums`)."""

    cdef readonly int n_leaves, n_cols
    cdef int64_t[::1] _ptr
    cdef int32_t[::1] _col
    cdef double[::1] _val

    def __init__(self, table):
        dense = np.ascontiguousarray(table, dtype=np.float64)
        rows, cols = np.nonzero(dense)  # row-major: each row's cells in column order
        self.n_leaves, self.n_cols = dense.shape[0], dense.shape[1]
        self._ptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=dense.shape[0]))]).astype(np.int64)
        self._col = cols.astype(np.int32)
        self._val = dense[rows, cols]


def _parse(str text):
    """The model text's trees, each a dict of its `key=value` lines."""
    trees = []
    for block in text.split("\nTree=")[1:]:
        body = block.split("\nend of trees")[0]
        t = {}
        for line in body.splitlines()[1:]:
            if "=" in line:
                key, _, value = line.partition("=")
                t[key] = value
        trees.append(t)
    return trees


def encode_row(values, tuple names, tuple code_maps, double[::1] out):
    """Fill `out` (already NaN) with one event's feature values: `names[j]`'s value through
    `code_maps[j]` (a dict text → code, or None for a number). None, an unseen category and
    a value `float()` refuses stay NaN — exactly `RiskClassifier.encode_row`."""
    cdef Py_ssize_t j, n = len(names)
    if out.shape[0] != n:
        raise ValueError(f"out has {out.shape[0]} cells; {n} names")
    get = values.get
    for j in range(n):
        v = get(names[j])
        if v is None:
            continue
        index = code_maps[j]
        if index is not None:
            code = index.get(v if type(v) is str else str(v))
            if code is not None:
                out[j] = code
        elif type(v) is float:
            out[j] = <double>v
        else:
            try:
                out[j] = float(v)
            except (TypeError, ValueError):
                pass
