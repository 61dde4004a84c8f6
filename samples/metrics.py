"""Error rates against ground truth, for tests and benchmarks.

Whitespace is normalised first (OCR engines and PDF extractors differ in
how they break lines and space words; that is not a reading error).
"""

from __future__ import annotations

import unicodedata

from rapidfuzz.distance import Levenshtein

__all__ = ["normalise", "cer", "wer"]


def normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def cer(truth: str, found: str) -> float:
    """Character error rate: edit distance / length of the truth."""
    truth, found = normalise(truth), normalise(found)
    if not truth:
        return 0.0 if not found else 1.0
    return Levenshtein.distance(truth, found) / len(truth)


def wer(truth: str, found: str) -> float:
    """Word error rate: word-level edit distance / number of words in the truth."""
    truth_words, found_words = normalise(truth).split(), normalise(found).split()
    if not truth_words:
        return 0.0 if not found_words else 1.0
    return Levenshtein.distance(truth_words, found_words) / len(truth_words)
