"""Signals from a return's free-text reason, from how customers write about returns.

Keyword families are general retail language (how shoppers describe worn-once items,
faulty goods, transit damage, unopened items, fit problems), not tuned to any dataset.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["KEYWORD_FAMILIES", "text_features"]

KEYWORD_FAMILIES: dict[str, str] = {
    # worn for an occasion and sent back: wardrobing language
    "worn": (
        r"\b(?:wore|worn|wearing|used (?:it |them )?(?:once|one time|twice)|only used|for (?:an?|the|my) "
        r"(?:event|party|wedding|occasion|trip|holiday|vacation|concert|photo ?shoot|gala|prom)|"
        r"event|party|wedding|prom|tags?(?: (?:still )?(?:on|attached|removed|off))?)\b"
    ),
    "defective": (
        r"\b(?:defective|faulty|broken|broke|stopped working|not working|doesn'?t work|does not work|"
        r"won'?t (?:turn|switch|power|charge|start)|doesn'?t (?:turn|switch|power|charge)|"
        r"does not (?:turn|switch|power|charge)|dead|malfunction\w*|glitch\w*|error|overheat\w*)\b"
    ),
    "damaged": (
        r"\b(?:damaged?|crushed|scratch\w*|dent\w*|crack\w*|torn|ripped|smashed|shattered|"
        r"leak\w*|stain\w*|box (?:was )?(?:open|crushed|wet))\b"
    ),
    "unopened": (
        r"\b(?:sealed|unopened|never opened|not opened|unused|never used|still in (?:the )?"
        r"(?:box|packaging|wrapper)|brand new|with tags|unworn|never worn)\b"
    ),
    "fit": (
        r"\b(?:too (?:small|big|large|tight|loose|short|long|narrow|wide)|(?:didn'?t|doesn'?t|does not|"
        r"did not) fit|fit|fits|size[ds]?|sizing|runs (?:small|large|big))\b"
    ),
    "not_as_described": (
        r"\b(?:not as (?:described|pictured|advertised|shown)|looks? different|different (?:colou?r|"
        r"from|than)|cheap(?:ly)? made|poor quality|wrong (?:colou?r|item|model))\b"
    ),
    "changed_mind": (
        r"\b(?:changed my mind|don'?t (?:need|want|like)|no longer|found (?:it )?cheaper|better price|"
        r"ordered (?:two|2|multiple)|duplicate|gift)\b"
    ),
}


def text_features(text: pd.Series) -> dict[str, np.ndarray]:
    """Length, word count and one 0/1 flag per keyword family (null text: length 0, flags 0)."""
    t = text.fillna("").astype(str).str.lower()
    out: dict[str, np.ndarray] = {
        "reason_text_len": t.str.len().to_numpy(np.float64),
        "reason_text_words": t.str.split().str.len().fillna(0).to_numpy(np.float64),
    }
    for family, pattern in KEYWORD_FAMILIES.items():
        out[f"text_{family}"] = t.str.contains(pattern, regex=True).to_numpy(np.float64)
    return out
