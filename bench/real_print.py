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
explain.

    .venv/bin/python -m bench.real_print --workers 1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import Counter
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
            args.json.write_text(json.dumps({"rows": rows, "classes": classes}, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
