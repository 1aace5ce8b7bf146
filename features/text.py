"""Signals from a return's free-text reason, from how customers write about returns.

Two kinds, both computed by `text_values` for one text — offline (once per distinct text)
and online alike, so the two paths cannot differ:

- keyword families: general retail language (how shoppers describe worn-once items,
  faulty goods, transit damage, unopened items, fit problems), not tuned to any dataset.
  A match does not count when one of the three words before it negates it ("never
  worn", "no damage") or, for occasion words, puts it in a delivery-timing context
  ("arrived after the event", "too late for the party");
- a hashed bag of words: lower-cased word unigrams and bigrams, each counted in one of
  `N_HASH_BUCKETS` buckets by a stable hash (CRC-32), so words the families miss still
  reach the model. Buckets are named `text_hash_00`…; `HASH_EXAMPLES` lists common
  return words that land in each bucket, for readable reasons.
"""

from __future__ import annotations

import re
import zlib

import numpy as np
import pandas as pd

__all__ = [
    "KEYWORD_FAMILIES",
    "N_HASH_BUCKETS",
    "HASH_EXAMPLES",
    "hash_feature_names",
    "tokens",
    "bucket",
    "keyword_flags",
    "text_values",
    "text_features",
]

_OCCASIONS = r"(?:event|party|wedding|occasion|trip|holiday|vacation|concert|photo ?shoot|gala|prom)"

KEYWORD_FAMILIES: dict[str, str] = {
    # worn for an occasion and sent back: wardrobing language
    "worn": (
        r"\b(?:wore|worn|wearing|used (?:it |them )?(?:once|one time|twice)|only used|for (?:an?|the|my) "
        rf"{_OCCASIONS}|{_OCCASIONS}|tags? (?:removed|off|cut(?: off)?)|(?:removed|cut off) (?:the )?tags?)\b"
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
        r"(?:box|packaging|wrapper)|brand new|with tags|tags? (?:still )?(?:on|attached)|unworn|never worn)\b"
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

# Families whose matches a negation just before them cancels ("never worn", "not broken").
_NEGATABLE = frozenset({"worn", "defective", "damaged"})
_NEGATORS = frozenset({"not", "no", "never", "without", "nothing", "nor", "dont", "didnt", "doesnt", "wasnt",
                       "isnt", "havent", "hasnt", "hadnt", "werent", "wont", "cant", "cannot"})
# Occasion words count as wardrobing unless the words before them are about delivery timing.
_OCCASION_MATCH = re.compile(rf".*\b{_OCCASIONS}")
_TIMING_WORDS = frozenset({"after", "missed", "miss", "late", "delayed", "time", "before", "until", "till"})
_CONTEXT_WORDS = 3

_PATTERNS = {k: re.compile(p) for k, p in KEYWORD_FAMILIES.items()}
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")

N_HASH_BUCKETS = 64


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens (letters and digits, inner apostrophes kept: "didn't")."""
    return _TOKEN.findall(text.lower())


def bucket(term: str) -> int:
    """The hash bucket of a unigram or bigram ("a b"): CRC-32 of its UTF-8 bytes, stable everywhere."""
    return zlib.crc32(term.encode("utf-8")) % N_HASH_BUCKETS


def hash_feature_names() -> list[str]:
    return [f"text_hash_{i:02d}" for i in range(N_HASH_BUCKETS)]


# Everyday return vocabulary (not any dataset's), to say which words a bucket stands for.
_COMMON_WORDS = str.split(
    "wore worn once party wedding event tags washed smell used broken defective faulty stopped working dead "
    "battery charger screen power error damaged crushed scratched dented cracked torn leaking stain box "
    "package sealed unopened new unused small large big tight loose fit size sizing short long colour color "
    "different described picture quality cheap wrong item missing parts late arrived delayed after changed mind "
    "need want gift duplicate cheaper price refund exchange uncomfortable ugly"
)
HASH_EXAMPLES: dict[int, tuple[str, ...]] = {}
for _w in _COMMON_WORDS:
    HASH_EXAMPLES.setdefault(bucket(_w), ())
    if len(HASH_EXAMPLES[bucket(_w)]) < 3:
        HASH_EXAMPLES[bucket(_w)] += (_w,)


def _negated(prev: list[str]) -> bool:
    return any(w in _NEGATORS or w.endswith("n't") for w in prev)


def keyword_flags(text: str) -> dict[str, float]:
    """One 0/1 flag per keyword family for a lower-cased text, with negation and timing context."""
    out: dict[str, float] = {}
    for family, pattern in _PATTERNS.items():
        hit = 0.0
        for m in pattern.finditer(text):
            prev = tokens(text[: m.start()])[-_CONTEXT_WORDS:]
            if family in _NEGATABLE and _negated(prev):
                continue
            if family == "worn" and _OCCASION_MATCH.match(m.group()) and _TIMING_WORDS.intersection(prev):
                continue
            hit = 1.0
            break
        out[f"text_{family}"] = hit
    return out


def text_values(text: object) -> dict[str, float]:
    """Every text feature of one reason text (None / NaN: empty text)."""
    t = text.lower() if isinstance(text, str) else ""
    out = {"reason_text_len": float(len(t)), "reason_text_words": float(len(t.split()))}
    out |= keyword_flags(t)
    counts = [0.0] * N_HASH_BUCKETS
    words = tokens(t)
    for w in words:
        counts[bucket(w)] += 1.0
    for a, b in zip(words, words[1:], strict=False):
        counts[bucket(f"{a} {b}")] += 1.0
    out |= dict(zip(hash_feature_names(), counts, strict=True))
    return out


def text_features(text: pd.Series) -> dict[str, np.ndarray]:
    """`text_values` for a column of texts (computed once per distinct text)."""
    codes, uniques = pd.factorize(text.astype(object).where(text.notna(), None), use_na_sentinel=True)
    rows = [text_values(u) for u in uniques] + [text_values(None)]
    names = list(rows[-1])
    table = np.array([[r[n] for n in names] for r in rows], dtype=np.float64).reshape(len(rows), len(names))
    pick = np.where(codes < 0, len(uniques), codes)
    return {n: table[pick, j] for j, n in enumerate(names)}
