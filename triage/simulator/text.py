"""What customers write in `reason_text`: templates grouped by what they reveal.

The text class (fit, defect, worn, ...) is a function of the text itself, so a model
that reads the words can learn what the reason code hides (a `changed_mind` that
"stopped working after a day", a `wrong_size` that was "worn to a wedding").
"""

from __future__ import annotations

import numpy as np

NONE, NEUTRAL, FIT, DEFECT, DAMAGE, MISMATCH, WRONG, NONEED, LATE, WORN = range(10)

TEMPLATES: dict[int, tuple[str, ...]] = {
    NEUTRAL: ("returning this", "see attached", "please process refund", "not needed, thanks", "return",
              "n/a", "as discussed with support", "ok"),
    FIT: ("too small", "too big, ordered my usual size", "runs small", "sleeves too long", "tight around the waist",
          "didn't fit", "size chart is off", "too narrow for my feet"),
    DEFECT: ("stopped working after a day", "won't turn on", "battery dies in an hour", "zipper broke first time",
             "screen flickers", "stitching came apart", "makes a grinding noise", "charger doesn't work"),
    DAMAGE: ("box was crushed", "arrived broken", "package was soaked", "glass shattered in the box",
             "dented on arrival", "came with a crack"),
    MISMATCH: ("colour is nothing like the photo", "material feels cheap", "smaller than described",
               "not the same as the website", "fabric is see-through", "looks different in person"),
    WRONG: ("got a different item", "wrong colour sent", "received someone else's order", "wrong model in the box"),
    NONEED: ("found it cheaper elsewhere", "bought two by mistake", "gift not needed anymore",
             "changed my mind", "don't need it anymore", "ordered the wrong one"),
    LATE: ("came too late for the trip", "arrived after the event", "took two weeks to arrive", "missed the birthday"),
    WORN: ("wore it once, not for me", "worn to a wedding, don't need it now", "only used it for the weekend",
           "wore it to the party", "used for a photo shoot", "tried it out at an event"),
}

# P(text class | latent true reason) when the customer writes anything
FIT_R, DEFECT_R, TRANSIT_R, NAD_R, WRONG_R, NONEED_R, LATE_R, WARDROBE_R, OTHER_R = range(9)
CLASS_GIVEN_REASON = np.zeros((9, 10))
for r, dist in {
    FIT_R: {FIT: 0.8, NEUTRAL: 0.2},
    DEFECT_R: {DEFECT: 0.85, NEUTRAL: 0.15},
    TRANSIT_R: {DAMAGE: 0.85, NEUTRAL: 0.15},
    NAD_R: {MISMATCH: 0.8, NEUTRAL: 0.2},
    WRONG_R: {WRONG: 0.85, NEUTRAL: 0.15},
    NONEED_R: {NONEED: 0.75, NEUTRAL: 0.25},
    LATE_R: {LATE: 0.8, NEUTRAL: 0.2},
    WARDROBE_R: {WORN: 0.45, FIT: 0.25, NONEED: 0.15, NEUTRAL: 0.15},
    OTHER_R: {NEUTRAL: 1.0},
}.items():
    for c, p in dist.items():
        CLASS_GIVEN_REASON[r, c] = p

ALL_TEXTS = np.array([""] + [s for k in sorted(TEMPLATES) for s in TEMPLATES[k]], dtype=object)
_CLASS_START = {}
_pos = 1
for _k in sorted(TEMPLATES):
    _CLASS_START[_k] = _pos
    _pos += len(TEMPLATES[_k])
CLASS_START = np.array([0] + [_CLASS_START[k] for k in range(1, 10)])
CLASS_SIZE = np.array([1] + [len(TEMPLATES[k]) for k in range(1, 10)])


def draw_text(rng: np.random.Generator, text_class: np.ndarray) -> np.ndarray:
    """Index into ALL_TEXTS for each row (0 = no text)."""
    return CLASS_START[text_class] + (rng.random(len(text_class)) * CLASS_SIZE[text_class]).astype(np.int64)
