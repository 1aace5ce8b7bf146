"""A calibrated LightGBM classifier that follows the scikit-learn estimator contract.

`RiskClassifier` learns its own category maps (category → integer code; unseen or rare
values become missing), trains a LightGBM booster with early stopping on a validation
set, keeps only the trees up to the best iteration, and calibrates the raw margin
(isotonic, sigmoid or none for binary; temperature or none for multiclass — chosen by
held-out Brier score unless fixed). Rows are encoded into float64 numpy matrices and
scored by `models._forest.Forest`, the booster's trees compiled once into C arrays and
walked exactly as LightGBM walks them (the same raw scores, bit for bit; ~2–9 µs a row
against `Booster.predict`'s ~25–70 µs fixed cost a call): the fast path both batch and
single-row scoring use.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from models._forest import Forest
from models._forest import encode_row as _encode_into
from models.calibration import choose_calibration, make_calibrator

__all__ = ["RiskClassifier", "is_categorical", "category_counts"]


def is_categorical(s: pd.Series) -> bool:
    return (
        isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object or pd.api.types.is_string_dtype(s.dtype)
    )


def category_counts(X: pd.DataFrame) -> dict[str, pd.Series]:
    """Value counts (as text) of every categorical column: what the category maps are learned from."""
    return {col: X[col].dropna().astype(str).value_counts() for col in X.columns if is_categorical(X[col])}


def _category_codes(s: pd.Series, cats: np.ndarray) -> np.ndarray:
    """Codes of `s` in the learned categories (by value, as text); NaN for missing or unseen."""
    if isinstance(s.dtype, pd.CategoricalDtype):  # map the few categories, not every row
        # one extra slot at the end for pandas' missing code (-1), which therefore maps to -1
        # itself: no special case for a column whose values (or learned categories) are all
        # missing, where either side of the lookup is empty
        lookup = np.append(pd.Index(cats).get_indexer(s.cat.categories.astype(str)), -1)
        codes = lookup[s.cat.codes.to_numpy()]
    else:
        text = s.astype(object).where(s.notna(), None).map(lambda v: v if v is None else str(v))
        codes = pd.Categorical(text, categories=cats).codes
    return np.where(codes >= 0, codes, np.nan)


class RiskClassifier(ClassifierMixin, BaseEstimator):
    """LightGBM + calibration with learned category maps and a numpy fast path.

    Parameters are LightGBM's usual ones with retail-sized defaults; `calibration`
    is "auto" (chosen on the validation set), or one of "none", "sigmoid",
    "isotonic" (binary) / "none", "temperature" (multiclass).

    `num_leaves` may be a tuple of candidates: each is trained with early stopping and
    the one with the lowest validation log loss is kept (`num_leaves_`). The default
    (7, 31) lets a small retailer get shallow trees, which generalise better on a few
    hundred positives, and a large one the usual 31 leaves.

    `regularisation="auto"` adds, below `small_data_rows` training rows, candidates that
    trade fit for stability — fewer leaves, larger leaves (`min_child_samples` scaled to the
    rows and to the rarest class), a heavier L2 penalty and a random half of the features
    per tree — chosen on the same validation log loss (`params_` holds the winner,
    `selection_scores_` every candidate's loss). "none" keeps only the `num_leaves` ones.
    """

    def __init__(
        self,
        *,
        learning_rate: float = 0.05,
        num_leaves: int | tuple[int, ...] = (7, 31),
        min_child_samples: int = 50,
        max_rounds: int = 2000,
        early_stopping_rounds: int = 50,
        feature_fraction: float = 0.9,
        bagging_fraction: float = 0.8,
        reg_lambda: float = 1.0,
        max_categories: int = 200,
        min_category_count: int = 10,
        max_bin: int = 255,
        calibration: str = "auto",
        regularisation: str = "auto",
        small_data_rows: int = 60_000,
        validation_fraction: float = 0.2,
        random_state: int = 0,
        n_jobs: int = 0,
    ) -> None:
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.max_rounds = max_rounds
        self.early_stopping_rounds = early_stopping_rounds
        self.feature_fraction = feature_fraction
        self.bagging_fraction = bagging_fraction
        self.reg_lambda = reg_lambda
        self.max_categories = max_categories
        self.min_category_count = min_category_count
        self.max_bin = max_bin
        self.calibration = calibration
        self.regularisation = regularisation
        self.small_data_rows = small_data_rows
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.n_jobs = n_jobs

    # ----------------------------------------------------------------- encoding
    def _maps_from_counts(self, counts: Mapping[str, pd.Series]) -> dict[str, np.ndarray]:
        """Category maps from each categorical column's value counts (over the training rows)."""
        maps: dict[str, np.ndarray] = {}
        for col, c in counts.items():
            c = c.sort_values(ascending=False, kind="stable")
            c = c[c >= self.min_category_count].head(self.max_categories)
            maps[col] = np.array(sorted(c.index), dtype=object)
        return maps

    def _set_schema(self, columns: Sequence[str], classes: np.ndarray, counts: Mapping[str, pd.Series]) -> None:
        """What fit learns before boosting: classes, feature names and category maps."""
        self.classes_ = np.asarray(classes)
        self.n_classes_ = len(self.classes_)
        if self.n_classes_ < 2:
            raise ValueError(f"need at least two classes to fit; got only {self.classes_.tolist()}")
        self.feature_names_in_ = np.array(list(columns), dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.category_maps_ = self._maps_from_counts(counts)
        self._code_index_ = {c: {v: i for i, v in enumerate(cats)} for c, cats in self.category_maps_.items()}
        self.__dict__.pop("_plan", None)  # the encoding plan of a previous fit

    def encode(self, X: pd.DataFrame) -> np.ndarray:
        """The float64 matrix the booster reads: columns in training order, codes for categories.

        A column missing from X is all-missing; an unseen category is missing.
        """
        check_is_fitted(self, "booster_")
        return self._encode(X)

    def _encode(self, X: pd.DataFrame) -> np.ndarray:
        out = np.full((len(X), len(self.feature_names_in_)), np.nan, dtype=np.float64)
        for j, col in enumerate(self.feature_names_in_):
            if col not in X.columns:
                continue
            s = X[col]
            cats = self.category_maps_.get(col)
            if cats is not None:
                out[:, j] = _category_codes(s, cats)
            else:
                out[:, j] = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        return out

    def _row_plan(self) -> tuple[tuple[str, ...], tuple[dict[str, int] | None, ...]]:
        """(feature names, each one's text → code map or None for a number), made once."""
        plan = self.__dict__.get("_plan")
        if plan is None:
            names = tuple(str(c) for c in self.feature_names_in_)
            plan = self.__dict__["_plan"] = (names, tuple(self._code_index_.get(c) for c in names))
        return plan

    def encode_row(self, values: Mapping[str, object]) -> np.ndarray:
        """One event's feature values (name → value) as a (1, n_features) float64 row: a
        category through its code map (unseen: missing), anything else through `float()`
        (None, or a value `float()` refuses: missing). Filled in C (`models._forest`)."""
        names, maps = self._row_plan()
        row = np.full((1, len(names)), np.nan, dtype=np.float64)
        _encode_into(values, names, maps, row[0])
        return row

    def encode_rows(self, rows: Sequence[Mapping[str, object]]) -> np.ndarray:
        """Many events' feature values as one (n, n_features) float64 matrix: row i is
        `encode_row(rows[i])`, each filled by the same compiled loop."""
        names, maps = self._row_plan()
        out = np.full((len(rows), len(names)), np.nan, dtype=np.float64)
        for i, r in enumerate(rows):
            _encode_into(r, names, maps, out[i])
        return out

    # ---------------------------------------------------------------- fitting
    def _lgb_params(self, n_rows: int) -> dict:
        params: dict[str, float | str] = {
            "learning_rate": self.learning_rate,
            "min_child_samples": int(min(self.min_child_samples, max(5, n_rows // 100))),
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1 if self.bagging_fraction < 1 else 0,
            "lambda_l2": self.reg_lambda,
            "max_bin": self.max_bin,
            "seed": self.random_state,
            "num_threads": self.n_jobs,
            "verbosity": -1,
        }
        if self.n_classes_ > 2:
            params.update(objective="multiclass", num_class=self.n_classes_, metric="multi_logloss")
        else:
            params.update(objective="binary", metric="binary_logloss")
        return params

    def _candidates(self, n_rows: int, y_idx: np.ndarray) -> list[tuple[str, dict[str, float]]]:
        """(label, LightGBM overrides) of every configuration to try, simplest data first."""
        leaves = (self.num_leaves,) if isinstance(self.num_leaves, int) else tuple(self.num_leaves)
        out: list[tuple[str, dict[str, float]]] = [(f"{int(n)} leaves", {"num_leaves": int(n)}) for n in leaves]
        if self.regularisation == "none" or n_rows >= self.small_data_rows:
            return out
        if self.regularisation != "auto":
            raise ValueError(f"regularisation must be 'auto' or 'none'; got {self.regularisation!r}")
        rarest = int(np.bincount(y_idx).min()) if len(y_idx) else 0
        for n_leaves, share, lam, ff in ((4, 0.05, 10.0, 0.5), (15, 0.02, 5.0, 0.7)):
            # a leaf holds at least this many rows: a share of the rarest class, and 1 % of the rows
            mcs = int(max(20, min(n_rows // 20, max(n_rows // 100, rarest * share))))
            out.append((f"{n_leaves} leaves, min {mcs} rows a leaf, L2 {lam:g}, {ff:.0%} of features a tree",
                        {"num_leaves": n_leaves, "min_child_samples": mcs, "lambda_l2": lam, "feature_fraction": ff}))
        return out

    def fit(
        self, X: pd.DataFrame, y, *, eval_set: tuple[pd.DataFrame, object] | None = None
    ) -> RiskClassifier:
        """Fit on X, y (rows in time order); early-stop and calibrate on `eval_set`.

        Without an eval_set the last `validation_fraction` of the rows is held out.
        """
        t0 = time.perf_counter()
        if not isinstance(X, pd.DataFrame):
            raise TypeError(
                f"X must be a pandas DataFrame with named feature columns; got {type(X).__name__}"
            )
        y = np.asarray(y)
        if eval_set is None:
            n_val = max(1, int(len(X) * self.validation_fraction))
            X, X_val, y, y_val = X.iloc[:-n_val], X.iloc[-n_val:], y[:-n_val], y[-n_val:]
        else:
            X_val, y_val = eval_set[0], np.asarray(eval_set[1])
        self._set_schema(list(X.columns), np.unique(np.concatenate([y, y_val])), category_counts(X))
        y_idx = np.searchsorted(self.classes_, y)
        y_val_idx = np.searchsorted(self.classes_, y_val)
        Xm, Xv = self._encode(X), self._encode(X_val)
        cat_idx = [j for j, c in enumerate(self.feature_names_in_) if c in self.category_maps_]
        names = [str(c) for c in self.feature_names_in_]
        params = self._lgb_params(len(Xm))
        # candidates differ in leaf size: keep every feature binned (no pre-filter by leaf size)
        dtrain = lgb.Dataset(Xm, y_idx, feature_name=names, categorical_feature=cat_idx, free_raw_data=True,
                             params={"feature_pre_filter": False})
        dval = lgb.Dataset(Xv, y_val_idx, reference=dtrain, params={"feature_pre_filter": False})
        candidates = self._candidates(len(Xm), y_idx)
        self.selection_scores_: dict[str, float] = {}
        best: tuple[float, dict, lgb.Booster] | None = None
        for label, over in candidates:
            booster = self._boost({**params, **over}, dtrain, dval)
            loss = float(next(iter(booster.best_score["validation"].values())))
            self.selection_scores_[label] = loss
            if best is None or loss < best[0]:
                best = (loss, over, booster)
        if best is None:  # no candidates: unpacking None would raise this TypeError anyway
            raise TypeError("num_leaves names no candidates to fit")
        _, chosen, booster = best
        self._keep(booster, candidates, chosen, params)
        self.train_seconds_ = time.perf_counter() - t0
        self._calibrate(self._margin(Xv), y_val_idx)
        self.n_train_, self.n_validation_ = len(Xm), len(Xv)
        return self

    def _keep(self, booster: lgb.Booster, candidates: Sequence[tuple[str, dict]], chosen: dict, params: dict) -> None:
        """The chosen candidate's booster, cut at its best iteration."""
        self.candidate_ = next(label for label, over in candidates if over is chosen)
        self.params_ = {**params, **chosen}
        self.num_leaves_ = int(chosen["num_leaves"])
        self.best_iteration_ = int(booster.best_iteration or booster.current_iteration())
        # keep only the trees up to the best iteration: smaller bundle, faster predict and explain
        self.booster_ = lgb.Booster(model_str=booster.model_to_string(num_iteration=self.best_iteration_))

    def _calibrate(self, margin: np.ndarray, y_val_idx: np.ndarray) -> None:
        """Choose (when "auto") and fit the calibration on the validation rows' margins, in time order."""
        if self.calibration == "auto":
            method, self.calibration_scores_ = choose_calibration(margin, y_val_idx, self.n_classes_)
        else:
            method, self.calibration_scores_ = self.calibration, {}
        self.calibrator_ = make_calibrator(method, self.n_classes_).fit(margin, y_val_idx)
        self.calibration_method_ = method

    def _boost(self, params: dict, dtrain: lgb.Dataset, dval: lgb.Dataset) -> lgb.Booster:
        """One candidate's booster, early-stopped on `dval` (`best_iteration`, `best_score` set).

        `training.engine_train` boosts the same candidate on a Dask cluster instead.
        """
        return lgb.train(
            params,
            dtrain,
            num_boost_round=self.max_rounds,
            valid_sets=[dval],
            valid_names=["validation"],
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )

    # --------------------------------------------------------------- predicting
    @property
    def forest_(self) -> Forest:
        """`booster_` compiled (`models._forest.Forest`), built at first use and again if the
        booster is replaced; never pickled (`__getstate__`): a bundle stays the booster."""
        cached = self.__dict__.get("_forest")
        if cached is None or cached[0] is not self.booster_:
            cached = self.__dict__["_forest"] = (self.booster_, Forest(self.booster_.model_to_string()))
        return cached[1]

    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())
        state.pop("_forest", None)
        state.pop("_plan", None)
        return state

    def _margin(self, Xm: np.ndarray) -> np.ndarray:
        """Raw scores as `Booster.predict(Xm, raw_score=True)` gives them ((n,) for binary,
        (n, k) for k classes), bit-equal, from the compiled forest."""
        raw = self.forest_.raw(np.ascontiguousarray(Xm, dtype=np.float64))
        return raw[:, 0] if raw.shape[1] == 1 else raw

    def predict_proba_matrix(self, Xm: np.ndarray) -> np.ndarray:
        """Calibrated probabilities from an encoded matrix, shape (n, n_classes)."""
        p = self.calibrator_.transform(self._margin(Xm))
        if p.ndim == 1:
            return np.column_stack([1.0 - p, p])
        return p

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "calibrator_")
        return self.predict_proba_matrix(self.encode(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def feature_importance(self, kind: str = "gain") -> pd.Series:
        check_is_fitted(self, "booster_")
        imp = self.booster_.feature_importance(importance_type=kind)
        return pd.Series(imp, index=list(self.feature_names_in_)).sort_values(ascending=False)
