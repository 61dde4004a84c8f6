"""The word list inside a Tesseract model, read out with Tesseract's own tools.

Every LSTM ``.traineddata`` of Debian's tesseract-ocr-<lang> packages holds
the word list Tesseract's language model was built from (a DAWG: the
tesstrain langdata word list, taken from a web crawl of that language). It is
the one Azerbaijani lexicon from a real source that is installed offline:
Debian and PyPI have no Azerbaijani spelling dictionary. ``combine_tessdata``
cuts the DAWG and its character set out of the model and ``dawg2wordlist``
(both in the Debian package tesseract-ocr) turns it into words, about 0.3 s
for the 310,000 forms of ``aze``. The list is noisy (web text: typos,
English words); pipeline/postcorrect.py uses it only where a word is absent
and exactly one of its readings is present.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from digitize.errors import MissingDependencyError, OCRError

__all__ = ["model_words"]

log = logging.getLogger(__name__)

_TOOLS = ("combine_tessdata", "dawg2wordlist")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise MissingDependencyError(f"{name} is not installed; install it: apt-get install tesseract-ocr")
    return path


def model_words(model: str, tessdata: Path) -> Iterator[str]:
    """The words of ``model``'s LSTM word list, as printed (case kept), one by one.

    Read lazily, so a caller that keeps only some of them never holds all.
    Raises MissingDependencyError when the model or the tools are missing,
    OCRError when the model has no word list or the tools fail.
    """
    traineddata = Path(tessdata) / f"{model}.traineddata"
    if not traineddata.is_file():
        raise MissingDependencyError(
            f"Tesseract model {model!r} is not installed in {tessdata}; "
            f"install it: apt-get install tesseract-ocr-{model.replace('_', '-').lower()}"
        )
    combine, dawg2wordlist = (_tool(name) for name in _TOOLS)
    with tempfile.TemporaryDirectory(prefix="wordlist-") as tmp:
        folder = Path(tmp)
        # -e picks each component by the ending of the file name given for it.
        dawg, charset, words = folder / "m.lstm-word-dawg", folder / "m.lstm-unicharset", folder / "words.txt"
        try:
            subprocess.run([combine, "-e", str(traineddata), str(dawg), str(charset)],
                           check=True, capture_output=True, timeout=60)
            if not dawg.is_file() or not charset.is_file():
                raise OCRError(f"{traineddata}: no LSTM word list in this model")
            subprocess.run([dawg2wordlist, str(charset), str(dawg), str(words)],
                           check=True, capture_output=True, timeout=120)
            with words.open(encoding="utf-8") as lines:
                for line in lines:
                    if line.strip():
                        yield line.strip()
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            raise OCRError(f"{traineddata}: cannot read its word list ({exc})") from exc
