"""Benchmark: real worn print, this pipeline against OCRmyPDF, in one run.

Real line scans with transcriptions (``--lines``, default the shared dev set
of the 1939 newspaper *Выль туйӧд*, 400 dpi, one printed line a file) are
stacked, white-padded, into page images of ``--lines-per-page`` consecutive
lines. Lines listed in the set's ``SUSPECT_GT.tsv`` (known transcription
defects) are left out of the pages. Page ``k`` (0-based) is a *tuning* page
when ``k`` is even and a *check* page when odd: figures are given for both
halves, so one can tell what was tuned on.

The same pages go through

* this pipeline: ``pipeline.page.process_page``, the code path of
  ``digitize run`` for a page, with ``ocr_model = "Cyrillic"``, once per
  ``--variant`` (a variant is a set of settings, e.g. ``reread=off``), in a
  pool of ``--workers`` processes;
* OCRmyPDF ``--deskew --rotate-pages -l Cyrillic --jobs <workers>`` on a
  PDF of the same images.

Each is scored on its PDF's text layer, extracted the same way (pypdfium2),
against the joined transcriptions: CER and WER with whitespace normalised
(``samples.metrics``), and again with the set's transcription conventions
normalised ("norm": dashes written " - ", Latin ö for Cyrillic ӧ, quote
marks). Then an error-class table per reader: character substitutions (top
N), insertions and deletions, word splits and joins, line breaks,
hyphenation, punctuation, and the errors the transcription conventions
explain. Last, for each variant of this pipeline, how well Tesseract's word
confidence (in the hOCR, after rescoring) predicts a wrong word: AUC, the
share of wrong words per confidence bin, a confidence → P(right) table
fitted on the tuning half and tried on the check half (Brier score,
calibration error; and with the lexicon's "known word" as a second
feature), and per page the wrong-word share beside the quality flag and
the confidence measures that could drive it.

    .venv/bin/python -m bench.real_print --workers 1
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import html
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import img2pdf
import numpy as np
import pypdfium2
from PIL import Image
from rapidfuzz.distance import Levenshtein

os.environ.setdefault("OMP_THREAD_LIMIT", "1")
os.environ.setdefault("OPENCV_FOR_THREADS_NUM", "1")

from digitize.samples.metrics import cer, normalise, wer

DEFAULT_LINES = Path(__file__).resolve().parents[1].parent / "shared" / "realscans" / "kpv_1939_newspaper_page1"
DPI = 400
MARGIN = 160  # px of white around the stacked lines
GAP = 18  # px of white between lines


@dataclass
class Page:
    number: int
    half: str  # "tune" or "check"
    path: Path
    lines: list[str]  # the transcription, one entry a printed line


@dataclass
class Reading:
    name: str
    texts: list[str]  # per page, as extracted from the PDF
    seconds_per_page: float
    extra: dict = field(default_factory=dict)


# -- pages ---------------------------------------------------------------------

def _suspect(folder: Path) -> set[str]:
    tsv = folder.parent / "SUSPECT_GT.tsv"
    if not tsv.is_file():
        return set()
    rows = tsv.read_text(encoding="utf-8").splitlines()[1:]
    return {row.split("\t")[0] for row in rows if row.strip()}


def load_lines(folder: Path) -> list[tuple[Path, str]]:
    skip = _suspect(folder)
    lines = []
    for tif in sorted(folder.glob("*.tif"), key=_line_order):
        if tif.stem in skip:
            continue
        lines.append((tif, tif.with_suffix(".txt").read_text(encoding="utf-8").strip()))
    return lines


def _line_order(path: Path) -> tuple[int, str]:
    match = re.search(r"-(\d{4})-line", path.stem)
    return (int(match.group(1)) if match else 0, path.stem)


def stack_pages(lines: list[tuple[Path, str]], per_page: int, folder: Path) -> list[Page]:
    pages = []
    for number, start in enumerate(range(0, len(lines), per_page)):
        chunk = lines[start:start + per_page]
        images = [np.asarray(Image.open(path).convert("L")) for path, _ in chunk]
        width = max(image.shape[1] for image in images) + 2 * MARGIN
        height = sum(image.shape[0] for image in images) + GAP * (len(images) - 1) + 2 * MARGIN
        canvas = np.full((height, width), 255, np.uint8)
        y = MARGIN
        for image in images:
            canvas[y:y + image.shape[0], MARGIN:MARGIN + image.shape[1]] = image
            y += image.shape[0] + GAP
        path = folder / f"page-{number + 1:02d}.png"
        Image.fromarray(canvas).save(path, dpi=(DPI, DPI))
        pages.append(Page(number, "tune" if number % 2 == 0 else "check", path, [text for _, text in chunk]))
    return pages


def pdf_pages_text(path: Path) -> list[str]:
    document = pypdfium2.PdfDocument(str(path))
    try:
        # pdfium marks a hyphen at a line's end as U+FFFE and joins the lines: undo that
        return [page.get_textpage().get_text_range().replace("\ufffe", "-\n") for page in document]
    finally:
        document.close()


# -- this pipeline ---------------------------------------------------------------

def _ours_one(args: tuple[str, int, str, str, str]) -> tuple[str, dict]:
    from digitize.pipeline.model import PageJob
    from digitize.pipeline.page import process_page
    from digitize.settings import Settings

    path, seq, work, settings_json, language = args
    source = Path(path)
    settings = Settings.model_validate_json(settings_json)
    job = PageJob(
        item_id="real-print", kind="text", seq=seq, source=source, frame=0, frames_in_file=1,
        source_sha256=hashlib.sha256(source.read_bytes()).hexdigest(),
        work_dir=Path(work) / f"{seq:04d}", ocr_model="Cyrillic", year=1939, language=language,
    )
    result = process_page(job, settings)
    steps = {step.name: step.settings for step in result.steps}
    return pdf_pages_text(result.pdf)[0], {
        "seconds": result.seconds, "quality": result.quality_dict(), "hocr": str(result.hocr),
        "reread": steps.get("reread"), "postcorrect": steps.get("postcorrect"),
    }


def _variant_settings(spec: str, tmp: Path, name: str) -> str:
    """Settings for a variant: ``ocr.reread=false,ocr.postcorrect=true`` (dotted field=value pairs)."""
    from digitize.settings import Settings

    data: dict = {"work_dir": str(tmp / f"work-{name}"), "output_dir": str(tmp / "out"),
                  "cache_dir": str(tmp / "cache")}
    for pair in filter(None, spec.split(",")):
        key, _, value = pair.partition("=")
        part, _, leaf = key.strip().partition(".")
        data.setdefault(part, {})[leaf] = json.loads(value) if value not in ("", None) else value
    return Settings.model_validate(data).model_dump_json()


def run_ours(pages: list[Page], name: str, spec: str, workers: int, tmp: Path, language: str) -> Reading:
    settings_json = _variant_settings(spec, tmp, name)
    work = json.loads(settings_json)["work_dir"]
    jobs = [(str(p.path), p.number + 1, work, settings_json, language) for p in pages]
    with ProcessPoolExecutor(workers) as pool:
        start = time.perf_counter()
        done = list(pool.map(_ours_one, jobs))
        seconds = time.perf_counter() - start
    infos = [info for _, info in done]
    return Reading(name, [text for text, _ in done], seconds / len(pages), {"infos": infos, "spec": spec})


# -- OCRmyPDF ------------------------------------------------------------------

def run_ocrmypdf(pages: list[Page], workers: int, tmp: Path) -> Reading:
    source = tmp / "scans.pdf"
    source.write_bytes(img2pdf.convert([str(p.path) for p in pages]))
    out = tmp / "ocrmypdf.pdf"
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "ocrmypdf", "--deskew", "--rotate-pages", "-l", "Cyrillic",
         "--jobs", str(workers), str(source), str(out)],
        env=env, check=True, capture_output=True,
    )
    return Reading("ocrmypdf", pdf_pages_text(out), (time.perf_counter() - start) / len(pages))


# -- scoring -------------------------------------------------------------------

_DASHES = re.compile(r"\s*[-‐‑‒–—―]\s+|\s+[-‐‑‒–—―]\s*")
_QUOTES = str.maketrans({"„": '"', "“": '"', "”": '"', "«": '"', "»": '"', "ö": "ӧ", "Ö": "Ӧ"})


def convention(text: str) -> str:
    """The set's transcription conventions undone: a free-standing dash of any
    kind is " - ", Latin ö is Cyrillic ӧ, all double quote marks are "."""
    text = unicodedata.normalize("NFC", text).translate(_QUOTES)
    return _DASHES.sub(" - ", " ".join(text.split()))


def rates(pages: list[Page], texts: list[str], half: str | None, norm: bool = False) -> tuple[float, float]:
    chosen = [(p, t) for p, t in zip(pages, texts, strict=True) if half is None or p.half == half]
    truth = "\n".join("\n".join(p.lines) for p, _ in chosen)
    found = "\n".join(t for _, t in chosen)
    if norm:
        truth, found = convention(truth), convention(found)
    return cer(truth, found), wer(truth, found)


_DASH_CHARS = {"-", "–", "—"}


def _is_punct(char: str) -> bool:
    return unicodedata.category(char)[0] in "PS"


def error_classes(pages: list[Page], texts: list[str], top: int) -> dict:
    """Where the character edits go, for one reader over the pages given."""
    subs: Counter[tuple[str, str]] = Counter()
    counts: Counter[str] = Counter()
    for page, text in zip(pages, texts, strict=True):
        truth_lines = [normalise(line) for line in page.lines]
        found_lines = [normalise(line) for line in text.splitlines() if line.strip()]
        truth, found = " ".join(truth_lines), " ".join(found_lines)
        counts["chars"] += len(truth)
        # line breaks: a found line that holds two printed lines, or half of one
        counts["line_count_truth"] += len(truth_lines)
        counts["line_count_found"] += len(found_lines)
        for op in Levenshtein.editops(truth, found):
            a = truth[op.src_pos] if op.tag != "insert" else ""
            b = found[op.dest_pos] if op.tag != "delete" else ""
            counts["edits"] += 1
            if {a, b} & _DASH_CHARS and {a, b} <= _DASH_CHARS | {"", " "}:
                counts["dash convention"] += 1  # " - " against "—" or "-": how the set writes a dash
            elif {a, b} == {"ö", "ӧ"} or (a and a in "„“\"") or (b and b in "„“\""):
                counts["quote/ö convention"] += 1
            elif a == " " or b == " ":
                counts["space (word split/join)"] += 1
            elif (a and _is_punct(a)) or (b and _is_punct(b)):
                counts["punctuation"] += 1
            elif op.tag == "replace":
                counts["substitution"] += 1
                subs[(a, b)] += 1
            elif op.tag == "insert":
                counts["insertion"] += 1
                subs[("", b)] += 1
            else:
                counts["deletion"] += 1
                subs[(a, "")] += 1
        # words: splits and joins, and hyphenated line ends
        tw, fw = truth.split(), found.split()
        for tag, i1, i2, j1, j2 in Levenshtein.opcodes(tw, fw):
            if tag != "replace":
                counts[f"word {tag}"] += i2 - i1 if tag == "delete" else (j2 - j1 if tag == "insert" else 0)
                continue
            t, f = tw[i1:i2], fw[j1:j2]
            if len(t) < len(f) and Levenshtein.distance("".join(t), "".join(f)) <= 1:
                counts["word split"] += len(f) - len(t)
            elif len(t) > len(f) and Levenshtein.distance("".join(t), "".join(f)) <= 1:
                counts["word join"] += len(t) - len(f)
            else:
                counts["word replaced"] += max(len(t), len(f))
        for line in truth_lines:
            if line.endswith("-") and len(line) > 1 and line[-2].isalpha():
                counts["hyphenated line ends"] += 1
                last = line.split()[-1]
                if not any(fl.endswith(last) for fl in found_lines):
                    counts["hyphenated line end misread"] += 1
    return {"counts": dict(counts), "top_substitutions": [[a, b, n] for (a, b), n in subs.most_common(top)]}


# -- confidence against errors ----------------------------------------------------------

_HOCR_WORD = re.compile(r"class=['\"]ocrx_word['\"][^>]*title=['\"][^'\"]*x_wconf (\d+)[^>]*>([^<]*)<")
CONFIDENCE_BINS = (0.0, 30.0, 50.0, 70.0, 80.0, 90.0, 95.0, 101.0)
_BIN_EDGES = list(zip(CONFIDENCE_BINS[:-1], CONFIDENCE_BINS[1:], strict=True))


def scored_words(page: Page, hocr: str, known: Callable[[str], bool | None] = lambda word: None,
                 ) -> list[tuple[float, bool, bool | None]]:
    """Each word of a page's hOCR: (Tesseract's confidence, whether the word is right, whether the
    language's lexicon knows it: None for a word that is not letters), the words aligned to the
    transcription's (whitespace and the set's conventions normalised)."""
    found = [(float(conf), html.unescape(text).strip()) for conf, text in _HOCR_WORD.findall(hocr)]
    found = [(conf, text) for conf, text in found if text]
    def word(text: str) -> str:  # the set's conventions, word by word (a line-end hyphen is no dash)
        text = convention(text)
        return "-" if text and all(c in "-‐‑‒–—―" for c in text) else text

    truth = [word(text) for text in " ".join(page.lines).split()]
    words = [word(text) for _, text in found]
    right = [False] * len(found)
    for tag, _i1, _i2, j1, j2 in Levenshtein.opcodes(truth, words):
        if tag == "equal":
            for j in range(j1, j2):
                right[j] = True
    return [(conf, ok, known(text)) for (conf, text), ok in zip(found, right, strict=True)]


def lexicon_known(language: str) -> Callable[[str], bool | None]:
    """Whether the shipped lexicon of ``language`` knows a word (None: not a word of letters, or no lexicon)."""
    from digitize.pipeline.lexicon import model_for_language

    lm = model_for_language(language)

    def known(text: str) -> bool | None:
        core = re.sub(r"^\W+|\W+$", "", text)
        if lm is None or not core or not core.replace("-", "").isalpha():
            return None
        return lm.known(core)

    return known


def auc(scored: list[tuple[float, bool]]) -> float | None:
    """Chance that a right word has a higher confidence than a wrong one (ties count half)."""
    right = sorted(c for c, ok in scored if ok)
    wrong = [c for c, ok in scored if not ok]
    if not right or not wrong:
        return None
    wins = sum((len(right) - bisect.bisect_right(right, c))
               + 0.5 * (bisect.bisect_right(right, c) - bisect.bisect_left(right, c)) for c in wrong)
    return wins / (len(right) * len(wrong))


def reliability(scored: list[tuple[float, bool]]) -> list[tuple[float, float, int, float]]:
    """Per confidence bin: (low, high, words, share of them wrong)."""
    rows = []
    for low, high in _BIN_EDGES:
        inside = [ok for c, ok in scored if low <= c < high]
        rows.append((low, high, len(inside), (sum(1 for ok in inside if not ok) / len(inside)) if inside else 0.0))
    return rows


def calibration_table(scored: list[tuple[float, bool]]) -> list[tuple[float, float, float]]:
    """A per-bin map from confidence to the chance a word is right (fitted on ``scored``), made
    monotone (pool adjacent violators over the bins); (low, high, P(right))."""
    bins = [[low, high, sum(1 for c, ok in scored if low <= c < high and ok),
             sum(1 for c, _ in scored if low <= c < high)] for low, high in _BIN_EDGES]
    bins = [b for b in bins if b[3]]
    merged: list[list[float]] = []
    for b in bins:
        merged.append([b[0], b[1], b[2], b[3]])
        while len(merged) > 1 and merged[-2][2] / merged[-2][3] > merged[-1][2] / merged[-1][3]:
            top = merged.pop()
            merged[-1] = [merged[-1][0], top[1], merged[-1][2] + top[2], merged[-1][3] + top[3]]
    return [(low, high, right / n) for low, high, right, n in merged]


def calibrated(table: list[tuple[float, float, float]], confidence: float) -> float:
    for low, high, p in table:
        if low <= confidence < high:
            return p
    return table[0][2] if confidence < table[0][0] else table[-1][2]


def expected_error(scored: list[tuple[float, bool]], predict) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(Brier score, expected calibration error over 10 equal bins of the prediction) of P(right)."""
    if not scored:
        return 0.0, 0.0
    brier = sum((predict(c) - ok) ** 2 for c, ok in scored) / len(scored)
    ece = 0.0
    for k in range(10):
        inside = [(p, ok) for p, ok in ((predict(c), ok) for c, ok in scored)
                  if k / 10 <= p < (k + 1) / 10 or (k == 9 and p == 1.0)]
        if inside:
            ece += len(inside) / len(scored) * abs(sum(p for p, _ in inside) / len(inside)
                                                   - sum(ok for _, ok in inside) / len(inside))
    return brier, ece


def _ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    for rank, i in enumerate(order):
        ranks[i] = float(rank)
    return ranks


def spearman(a: list[float], b: list[float]) -> float | None:
    if len(a) < 3:
        return None
    ra, rb = _ranks(a), _ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    var = (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5
    return cov / var if var else None


def lexicon_table(scored: list[tuple[float, bool, bool | None]]) -> dict[tuple[int, bool | None], float]:
    """P(right) per (coarse confidence bin, known to the lexicon), fitted on ``scored`` (add-one smoothed)."""
    counts: dict[tuple[int, bool | None], list[int]] = {}
    for conf, ok, known in scored:
        entry = counts.setdefault((_coarse(conf), known), [0, 0])
        entry[0] += ok
        entry[1] += 1
    return {key: (right + 1) / (n + 2) for key, (right, n) in counts.items()}


def _coarse(confidence: float) -> int:
    return sum(1 for edge in (50.0, 80.0, 93.0) if confidence >= edge)


def confidence_report(pages: list[Page], reading: Reading, language: str) -> dict:
    """How well word confidence predicts a wrong word, and page flags a bad page, for one reader."""
    infos = reading.extra.get("infos") or []
    known = lexicon_known(language)
    per_page3 = [scored_words(page, Path(info["hocr"]).read_text(encoding="utf-8"), known)
                 for page, info in zip(pages, infos, strict=True)]
    per_page = [[(c, ok) for c, ok, _ in words] for words in per_page3]
    every = [w for words in per_page for w in words]
    tune = [w for page, words in zip(pages, per_page, strict=True) if page.half == "tune" for w in words]
    check = [w for page, words in zip(pages, per_page, strict=True) if page.half == "check" for w in words]
    table = calibration_table(tune)
    raw_check = expected_error(check, lambda c: min(c, 100.0) / 100.0)
    cal_check = expected_error(check, lambda c: calibrated(table, c))
    # confidence and the lexicon together: a table fitted on the tuning half, tried on the check half
    tune3 = [w for page, words in zip(pages, per_page3, strict=True) if page.half == "tune" for w in words]
    check3 = [w for page, words in zip(pages, per_page3, strict=True) if page.half == "check" for w in words]
    with_lexicon = lexicon_table(tune3)
    lexicon_scores = [(with_lexicon.get((_coarse(c), kn), calibrated(table, c)) * 100 + c / 1000, ok)
                      for c, ok, kn in check3]
    page_rows = []
    for page, words, info in zip(pages, per_page, infos, strict=True):
        quality = info.get("quality") or {}
        wrong = sum(1 for _, ok in words if not ok) / max(1, len(words))
        mean_conf = sum(c for c, _ in words) / max(1, len(words))
        doubtful = sum(1 for c, _ in words if c < 50) / max(1, len(words))
        expected = 1 - sum(calibrated(table, c) for c, _ in words) / max(1, len(words))
        page_rows.append({"page": page.number + 1, "half": page.half, "words": len(words),
                          "wrong_share": wrong, "mean_confidence": mean_conf, "below_50_share": doubtful,
                          "expected_wrong_calibrated": expected, "flagged": bool(quality.get("rescan"))})
    wrong_shares = [r["wrong_share"] for r in page_rows]
    return {
        "words": len(every), "wrong": sum(1 for _, ok in every if not ok),
        "auc_all": auc(every), "auc_tune": auc(tune), "auc_check": auc(check),
        "reliability_all": reliability(every),
        "calibration_table_tune": table,
        "auc_check_confidence_and_lexicon": auc(lexicon_scores),
        "lexicon_table_tune": {f"{['<50', '50-80', '80-93', '>=93'][b]} known={k}": p
                               for (b, k), p in sorted(with_lexicon.items(), key=str)},
        "check_brier_ece_raw": raw_check, "check_brier_ece_calibrated": cal_check,
        "pages": page_rows,
        "spearman_page_wrong_vs_below50": spearman([r["below_50_share"] for r in page_rows], wrong_shares),
        "spearman_page_wrong_vs_low_mean_conf": spearman([-r["mean_confidence"] for r in page_rows], wrong_shares),
        "spearman_page_wrong_vs_calibrated": spearman([r["expected_wrong_calibrated"] for r in page_rows],
                                                      wrong_shares),
    }


def _show_confidence(name: str, report: dict) -> None:
    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    print(f"\n{name}: word confidence against wrong words ({report['words']} words, {report['wrong']} wrong): "
          f"AUC all {fmt(report['auc_all'])}, tuning {fmt(report['auc_tune'])}, check {fmt(report['auc_check'])}")
    print("  confidence  words  wrong")
    for low, high, n, share in report["reliability_all"]:
        print(f"  {low:3.0f}-{min(high, 100):3.0f}    {n:5}  {share:6.1%}")
    table = ", ".join(f"{low:.0f}-{min(high, 100):.0f}: {p:.2f}" for low, high, p in report["calibration_table_tune"])
    print(f"  P(right) by confidence, fitted on the tuning half: {table}")
    (rb, re_), (cb, ce) = report["check_brier_ece_raw"], report["check_brier_ece_calibrated"]
    print(f"  check half: Brier {rb:.3f} / ECE {re_:.3f} with confidence/100, {cb:.3f} / {ce:.3f} calibrated")
    print(f"  confidence and lexicon (table fitted on the tuning half): check AUC "
          f"{fmt(report['auc_check_confidence_and_lexicon'])}; P(right): "
          + ", ".join(f"{k} {p:.2f}" for k, p in report["lexicon_table_tune"].items()))
    print("  page half  words wrong  mean-conf <50-share calibrated-wrong flagged")
    for r in report["pages"]:
        print(f"  {r['page']:4} {r['half']:5} {r['words']:5} {r['wrong_share']:5.1%} {r['mean_confidence']:9.1f} "
              f"{r['below_50_share']:9.1%} {r['expected_wrong_calibrated']:16.1%} {'yes' if r['flagged'] else 'no'}")
    print(f"  rank correlation with the pages' wrong-word share: <50 share "
          f"{fmt(report['spearman_page_wrong_vs_below50'])}, low mean confidence "
          f"{fmt(report['spearman_page_wrong_vs_low_mean_conf'])}, calibrated expectation "
          f"{fmt(report['spearman_page_wrong_vs_calibrated'])}")


def _show(rows: dict, pages: list[Page], readings: list[Reading], top: int) -> dict:
    print(f"{len(pages)} pages of {sum(len(p.lines) for p in pages)} real lines "
          f"({sum(len(p.lines) for p in pages if p.half == 'tune')} tuning, "
          f"{sum(len(p.lines) for p in pages if p.half == 'check')} check), {DPI} dpi, model Cyrillic")
    print(f"{'reader':22} {'s/page':>7} {'CER all':>8} {'WER all':>8} {'CER tune':>9} {'CER check':>9} "
          f"{'WER check':>9} {'CERnorm all':>11} {'CERnorm chk':>11}")
    for reading in readings:
        r = rows[reading.name]
        print(f"{reading.name:22} {reading.seconds_per_page:7.2f} {r['all']['cer']:8.2%} {r['all']['wer']:8.2%} "
              f"{r['tune']['cer']:9.2%} {r['check']['cer']:9.2%} {r['check']['wer']:9.2%} "
              f"{r['norm_all']['cer']:11.2%} {r['norm_check']['cer']:11.2%}")
    classes = {}
    for reading in readings:
        found = error_classes(pages, reading.texts, top)
        classes[reading.name] = found
        c = found["counts"]
        print(f"\n{reading.name}: {c.get('edits', 0)} character edits in {c.get('chars', 0)} characters")
        for key in ("substitution", "insertion", "deletion", "space (word split/join)", "punctuation",
                    "dash convention", "quote/ö convention", "word split", "word join", "word replaced",
                    "word insert", "word delete", "hyphenated line ends", "hyphenated line end misread",
                    "line_count_truth", "line_count_found"):
            print(f"  {key:30} {c.get(key, 0):6}")
        print("  top letter edits (truth→read, n): " + ", ".join(
            f"{a or '∅'}→{b or '∅'} {n}" for a, b, n in found["top_substitutions"]))
    return classes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=Path, default=DEFAULT_LINES, help="folder of <base>.tif + <base>.txt")
    parser.add_argument("--lines-per-page", type=int, default=30)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--language", default="kv-Cyrl", help="the item's language tag (BCP 47)")
    parser.add_argument("--variant", action="append", default=[],
                        help="name:settings, e.g. 'no-reread:ocr.reread=false' (repeatable); "
                        "default: one run with the default settings")
    parser.add_argument("--skip-ocrmypdf", action="store_true")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--dump", type=Path, help="also write each page's truth and texts here")
    args = parser.parse_args(argv)
    variants = [v.partition(":")[::2] for v in args.variant] or [("digitize", "")]

    with tempfile.TemporaryDirectory(prefix="bench-real-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "pages").mkdir()
        pages = stack_pages(load_lines(args.lines), args.lines_per_page, tmp / "pages")
        readings = [run_ours(pages, name, spec, args.workers, tmp, args.language) for name, spec in variants]
        if not args.skip_ocrmypdf:
            readings.append(run_ocrmypdf(pages, args.workers, tmp))
        rows = {}
        for reading in readings:
            rows[reading.name] = {
                key: dict(zip(("cer", "wer"), rates(pages, reading.texts, half, norm), strict=True))
                for key, half, norm in (("all", None, False), ("tune", "tune", False), ("check", "check", False),
                                        ("norm_all", None, True), ("norm_check", "check", True))
            }
            rows[reading.name]["seconds_per_page"] = reading.seconds_per_page
        classes = _show(rows, pages, readings, args.top)
        if "ocrmypdf" in rows:
            theirs = rows["ocrmypdf"]
            for reading in readings[:-1]:
                ours = rows[reading.name]
                print(f"\n{reading.name} CER / OCRmyPDF CER: all {ours['all']['cer'] / theirs['all']['cer']:.2f}, "
                      f"check half {ours['check']['cer'] / theirs['check']['cer']:.2f} (goal <= 0.5)")
        for reading in readings:
            infos = reading.extra.get("infos") or []
            if infos:
                stages: Counter[str] = Counter()
                for info in infos:
                    stages.update(info["seconds"])
                flagged = sum(1 for info in infos if (info["quality"] or {}).get("rescan"))
                steps = [info["reread"] for info in infos if info.get("reread")]
                per_page = {k: round(v / len(infos), 2) for k, v in stages.items()}
                print(f"{reading.name}: stage seconds per page {per_page}, pages flagged {flagged}/{len(infos)}"
                      + (f", lines read twice {sum(r['lines_reread'] for r in steps)}, words checked "
                         f"{sum(r['words_checked'] for r in steps)}, changed {sum(r['words_changed'] for r in steps)}"
                         if steps else ""))
        confidence = {}
        for reading in readings:
            if reading.extra.get("infos"):
                confidence[reading.name] = confidence_report(pages, reading, args.language)
                _show_confidence(reading.name, confidence[reading.name])
        if args.dump:
            args.dump.mkdir(parents=True, exist_ok=True)
            for page in pages:
                (args.dump / f"{page.path.stem}.truth.txt").write_text("\n".join(page.lines) + "\n", encoding="utf-8")
                for reading in readings:
                    (args.dump / f"{page.path.stem}.{reading.name}.txt").write_text(
                        reading.texts[page.number], encoding="utf-8")
                for reading in readings:
                    infos = reading.extra.get("infos")
                    if infos:
                        hocr = Path(infos[page.number]["hocr"])
                        (args.dump / f"{page.path.stem}.{reading.name}.hocr").write_bytes(hocr.read_bytes())
                        changes = (infos[page.number].get("reread") or {}).get("changes") or []
                        (args.dump / f"{page.path.stem}.{reading.name}.changes.tsv").write_text(
                            "".join(f"{c[0]}\t{c[1]}\t{c[2]}\t{c[3]}\n" for c in changes), encoding="utf-8")
        if args.json:
            figures = {"rows": rows, "classes": classes, "confidence": confidence}
            args.json.write_text(json.dumps(figures, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
