# Type stubs of the compiled tree walker (models/_forest.pyx).
from collections.abc import Mapping

import numpy as np

class Forest:
    n_trees: int
    n_classes: int
    n_features: int
    def __init__(self, model_text: str) -> None: ...
    def raw(self, X: np.ndarray) -> np.ndarray: ...
    def leaves(self, X: np.ndarray) -> np.ndarray: ...
    def leaf_sums(self, X: np.ndarray, table: LeafTable, class_index: int = 0) -> np.ndarray: ...

class LeafTable:
    n_leaves: int
    n_cols: int
    def __init__(self, table: np.ndarray) -> None: ...

def encode_row(
    values: Mapping[str, object],
    names: tuple[str, ...],
    code_maps: tuple[dict[str, int] | None, ...],
    out: np.ndarray,
) -> None: ...
