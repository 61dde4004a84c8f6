"""Benchmark: a page's whole path on a worker against Tesseract alone, stage by stage, in one process.

The same generated pages go, page by page in this one process (both sides
see the same machine load), through

* Tesseract alone: tesserocr, the same model, the scan as it is (the limit
  issue 18 sets: our page ≤ 1.1× of it in steady state);
* this pipeline's page task as a worker runs it (``flows.pool.page_work``
  minus the fault injection: the ``.started`` mark, then
  ``pipeline.page.process_page``), each page in a fresh work folder.

Both are timed in steady state: the one-time loads of a worker (imports,
the Tesseract model, the post-correction lexicon, the re-reading language
model) are done before the clock. Each page's CPU time (this process's
user + system; one thread: OMP_THREAD_LIMIT=1, OpenCV one thread) and wall
time are split over the page's stages by wrapping the functions that do
them: each stage's time is its own, without the wrapped stages it calls
(but the re-reading of doubtful lines and the upside-down strip test keep
the Tesseract time they call), and "other" is what no wrapper covers. fsync is counted on its own (wall
time: it waits for the disk, the CPU hardly moves).

    .venv/bin/python -m bench.page_path --pages 8
    .venv/bin/python -m bench.page_path --pages 8 --kinds clean,skew,noise,curl  # samples/degrade.py pages
    .venv/bin/python -m bench.page_path --pages 4 --keep /tmp/outputs   # keep every page's files (byte checks)

The pages of the default set are the ones of bench/workers.py (A5 text at
300 dpi, laid 1.5° crooked, a few specks, LZW TIFF), as issue 18's batches.
Run with ``PYTHONPATH=<another checkout>`` to time other code on the same
pages; stages the other code lacks are left out.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_THREAD_LIMIT", "1")
os.environ.setdefault("OPENCV_FOR_THREADS_NUM", "1")  # as digitize sets it, before cv2 is imported

# (module, attribute, stage): a function of the page's path and the stage it does
_STAGES: tuple[tuple[str, str, str], ...] = (
    ("digitize.pipeline.page", "page_cache_key", "cache key + resume check"),
    ("digitize.pipeline.page", "_cached", "cache key + resume check"),
    ("digitize.pipeline.page", "load_page", "load: decode the scan"),
    ("digitize.pipeline.page", "prepare", "load: 8-bit working copy"),
    ("digitize.pipeline.tesseract", "probe", "tesseract probe"),
    ("digitize.pipeline.page_image", "clean_page", "image: other (copies, turns)"),
    ("digitize.pipeline.spread", "find_gutter", "image: spread"),
    ("digitize.pipeline.spread", "looks_like_spread", "image: spread"),
    ("digitize.pipeline.crop", "find_page", "image: crop"),
    ("digitize.pipeline.crop", "crop", "image: crop"),
    ("digitize.pipeline.orientation", "is_sideways", "image: orientation"),
    ("digitize.pipeline.orientation", "looks_upside_down", "image: orientation"),
    ("digitize.pipeline.deskew", "estimate_skew", "image: deskew (measure)"),
    ("digitize.pipeline.deskew", "rotate", "image: deskew (rotate)"),
    ("digitize.pipeline.dewarp", "find_warp", "image: dewarp"),
    ("digitize.pipeline.dewarp", "apply", "image: dewarp"),
    ("digitize.pipeline.normalize", "ocr_input", "image: OCR input (clean, binarise)"),
    ("digitize.pipeline.quality", "measure_image", "image: quality measures"),
    ("digitize.pipeline.reread", "language_model", "reread: language model"),
    ("digitize.pipeline.reread", "recognize", "OCR: image hand-over"),
    ("digitize.pipeline.tesseract", "_start", "OCR: Tesseract recognise"),
    ("digitize.pipeline.tesseract", "_results", "OCR: Tesseract hOCR + confidences"),
    ("digitize.pipeline.tesseract", "_word_readings", "reread: letter alternatives"),
    ("digitize.pipeline.tesseract", "strip_confidence", "OCR: upside-down strip test"),
    ("digitize.pipeline.page", "recheck_upside_down", "OCR: upside-down strip test"),
    ("digitize.pipeline.reread", "ImageLines.__call__", "reread: second reading of doubtful lines"),
    ("digitize.pipeline.reread", "apply", "reread: rescoring"),
    ("digitize.pipeline.reread", "picture_reader", "reread: rescoring"),
    ("digitize.pipeline.postcorrect", "apply", "post-correction"),
    ("digitize.pipeline.tesseract", "hocr_document", "hOCR: document + parse"),
    ("digitize.pipeline.page", "parse_hocr", "hOCR: document + parse"),
    ("digitize.pipeline.quality", "assess", "quality control"),
    ("digitize.pipeline.page", "transliterate_words", "transliteration + texts"),
    ("digitize.pipeline.page", "page_text", "transliteration + texts"),
    ("digitize.pipeline.page", "_access_pixels", "reading image: scale to 200 dpi"),
    ("digitize.pipeline.page", "_encode_access_image", "reading image: JPEG 2000 encode"),
    ("digitize.pipeline.page", "_page_pdf", "page PDF: pikepdf open + save"),
    ("digitize.pipeline.page", "img2pdf", "page PDF: img2pdf"),
    ("digitize.pipeline.page", "add_text_layer", "page PDF: text layer"),
    ("digitize.pipeline.page", "_fixity", "outputs: SHA-256 of each file"),
    ("digitize.pipeline.page", "atomic_write_bytes", "outputs: write files (hOCR, texts, page.json)"),
    ("os", "fsync", "outputs: fsync"),
)
# stages that keep the time of the wrapped stages they call (their Tesseract readings are theirs)
_ABSORBING = frozenset({"reread: second reading of doubtful lines", "OCR: upside-down strip test"})
_TESSERACT_STAGES = ("OCR: Tesseract recognise", "OCR: Tesseract hOCR + confidences")


class Clock:
    """CPU and wall seconds per stage, each stage's own (nested wrapped stages subtracted)."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self.wall: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[list[float]] = []  # per open stage: [cpu of nested stages, wall of nested stages]
        self._absorbing = 0

    def wrap(self, function: Callable[..., Any], stage: str) -> Callable[..., Any]:
        absorbs = stage in _ABSORBING

        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._absorbing:  # inside a stage that keeps the time of what it calls
                return function(*args, **kwargs)
            self._absorbing += absorbs
            self._stack.append([0.0, 0.0])
            cpu, wall = time.process_time(), time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent_cpu, spent_wall = time.process_time() - cpu, time.perf_counter() - wall
                nested = self._stack.pop()
                self._absorbing -= absorbs
                self.cpu[stage] += spent_cpu - nested[0]
                self.wall[stage] += spent_wall - nested[1]
                self.calls[stage] += 1
                if self._stack:
                    self._stack[-1][0] += spent_cpu
                    self._stack[-1][1] += spent_wall

        timed.__wrapped__ = function  # type: ignore[attr-defined]
        return timed

    def install(self) -> list[str]:
        """Wrap every stage function present in the code under test; the stages left out."""
        missing = []
        for module_name, attribute, stage in _STAGES:
            owner: Any = importlib.import_module(module_name)
            *path, attribute = attribute.split(".")
            for part in path:  # a method: wrapped on its class
                owner = getattr(owner, part, None)
            target = getattr(owner, attribute, None)
            if target is None:
                missing.append(f"{module_name}.{attribute}")
                continue
            if attribute == "img2pdf":  # the module: wrap its convert
                target.convert = self.wrap(target.convert, stage)
                continue
            setattr(owner, attribute, self.wrap(target, stage))
        return missing

    def reset(self) -> None:
        self.cpu.clear()
        self.wall.clear()
        self.calls.clear()


def make_pages(folder: Path, count: int, kinds: list[str] | None) -> list[tuple[Path, int, str]]:
    """(file, dpi, kind) of each generated page."""
    from digitize.samples.corpus import paragraphs
    from digitize.samples.render import render_page, scan_like

    folder.mkdir(parents=True, exist_ok=True)
    pages = []
    for number in range(1, count + 1):
        if kinds:
            from digitize.samples.degrade import degrade

            kind = kinds[(number - 1) % len(kinds)]
            page = degrade(kind, seed=number)
            path = folder / f"page-{number:03d}-{kind}.png"
            page.image.save(path, dpi=(page.dpi, page.dpi))
            pages.append((path, page.dpi, kind))
        else:  # bench/workers.py's pages
            rendered = render_page(paragraphs(seed=300 + number, n=4), seed=number)
            path = folder / f"page-{number:03d}.tif"
            scan_like(rendered, skew_degrees=1.5, seed=number).save(path, dpi=(300, 300), compression="tiff_lzw")
            pages.append((path, 300, "text"))
    return pages


_API: Any = None


def tesseract_alone(path: Path, model: str, dpi: int) -> str:
    """Tesseract alone on the scan as it is, the model kept loaded (as bench/ocr_quality.py)."""
    global _API
    import tesserocr
    from PIL import Image

    from digitize.pipeline.tesseract import find_tessdata

    if _API is None:
        _API = tesserocr.PyTessBaseAPI(path=str(find_tessdata()) + os.sep, lang=model, psm=3,
                                       oem=tesserocr.OEM.LSTM_ONLY)
    with Image.open(path) as image:
        _API.SetImage(image)
        _API.SetSourceResolution(dpi)
        text = _API.GetUTF8Text()
    _API.Clear()
    return str(text)


def ours(path: Path, seq: int, model: str, work: Path, settings: Any, language: str) -> Any:
    """The page task of a worker (flows/pool.page_work without its fault injection)."""
    from digitize.files import atomic_write_text
    from digitize.pipeline.model import PageJob
    from digitize.pipeline.page import process_page

    job = PageJob(
        item_id="bench", kind="text", seq=seq, source=path, frame=0, frames_in_file=1,
        source_sha256=hashlib.sha256(path.read_bytes()).hexdigest(), work_dir=work / f"{seq:04d}",
        ocr_model=model, language=language,
    )
    job.work_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(job.work_dir / ".started", str(os.getpid()))
    return process_page(job, settings)


def warm(model: str, settings: Any, language: str) -> None:
    """A worker's one-time loads, before the clock (steady state)."""
    from digitize.pipeline import postcorrect, reread, tesseract
    from digitize.pipeline.page import process_page  # noqa: F401 - the import is the cost

    tessdata = tesseract.probe(settings.ocr.tessdata).tessdata
    tesseract._api(model, tessdata, settings.ocr.page_segmentation_mode)
    postcorrect.corrector_for(model, tessdata, min_confidence=settings.ocr.postcorrect_min_confidence,
                              cache_dir=settings.cache_dir)
    reread.language_model(language, settings.ocr.reread)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=8)
    parser.add_argument("--kinds", default="", help="comma-separated samples/degrade.py kinds instead of clean scans")
    parser.add_argument("--model", default="Cyrillic")
    parser.add_argument("--language", default="az", help="the item's language (az: re-reading is on)")
    parser.add_argument("--no-reread", action="store_true", help="ocr.reread off (what re-reading costs)")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the pages (each in fresh folders)")
    parser.add_argument("--keep", type=Path, help="copy every page's work folder here (output byte checks)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)

    from digitize.settings import Settings, apply_process_defaults

    apply_process_defaults()
    kinds = [k for k in args.kinds.split(",") if k]
    clock = Clock()
    with tempfile.TemporaryDirectory(prefix="bench-page-path-") as tmp:
        root = Path(tmp)
        pages = make_pages(root / "scans", args.pages, kinds)
        settings = Settings(work_dir=root / "work", output_dir=root / "out", cache_dir=root / "cache",
                            ocr={"reread": not args.no_reread})
        warm(args.model, settings, args.language)
        tesseract_alone(pages[0][0], args.model, pages[0][1])
        missing = clock.install()
        # one page through both before the clock: first-call costs (lazy imports, caches)
        ours(pages[0][0], 0, args.model, root / "warm", settings, args.language)
        clock.reset()
        tess_cpu = tess_wall = our_cpu = our_wall = 0.0
        count = 0
        for round_ in range(args.rounds):
            for seq, (path, dpi, _) in enumerate(pages, 1):
                cpu, wall = time.process_time(), time.perf_counter()
                tesseract_alone(path, args.model, dpi)
                tess_cpu += time.process_time() - cpu
                tess_wall += time.perf_counter() - wall
                cpu, wall = time.process_time(), time.perf_counter()
                ours(path, seq, args.model, root / f"work-{round_}", settings, args.language)
                our_cpu += time.process_time() - cpu
                our_wall += time.perf_counter() - wall
                count += 1
        if args.keep:
            shutil.copytree(root / "work-0", args.keep, dirs_exist_ok=True)
        load = os.getloadavg()

    covered_cpu = sum(clock.cpu.values())
    covered_wall = sum(clock.wall.values())
    stages = {stage: (clock.cpu[stage] / count, clock.wall[stage] / count, clock.calls[stage] / count)
              for stage in dict.fromkeys(s for _, _, s in _STAGES) if clock.calls.get(stage)}
    stages["other (not wrapped)"] = ((our_cpu - covered_cpu) / count, (our_wall - covered_wall) / count, 0.0)
    tesseract_in_ours = sum(clock.cpu[s] for s in _TESSERACT_STAGES) / count
    result = {
        "pages": count, "kinds": kinds or ["text"], "model": args.model, "language": args.language,
        "reread": not args.no_reread,
        "tesseract_alone_cpu": tess_cpu / count, "tesseract_alone_wall": tess_wall / count,
        "ours_cpu": our_cpu / count, "ours_wall": our_wall / count,
        "ratio_cpu": our_cpu / tess_cpu, "ratio_wall": our_wall / tess_wall,
        "tesseract_in_ours_cpu": tesseract_in_ours,
        "stages": {k: {"cpu": round(v[0], 4), "wall": round(v[1], 4), "calls": v[2]} for k, v in stages.items()},
        "load_average": load, "not_in_this_code": missing,
    }
    print(f"\n{count} pages ({', '.join(result['kinds'])}), model {args.model}, language {args.language}, "
          f"re-reading {'off' if args.no_reread else 'on'}; "
          f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on {os.cpu_count()} CPUs")
    print(f"Tesseract alone: {tess_cpu / count:.3f} s CPU, {tess_wall / count:.3f} s wall a page")
    print(f"this pipeline:   {our_cpu / count:.3f} s CPU, {our_wall / count:.3f} s wall a page")
    print(f"ratio: {our_cpu / tess_cpu:.3f}× by CPU, {our_wall / tess_wall:.3f}× by wall")
    print(f"\n{'stage':<46} | {'CPU s/page':>10} | {'wall s/page':>11} | {'× of Tess.':>10} | calls/page")
    print(f"{'-' * 46}-+-{'-' * 10}-+-{'-' * 11}-+-{'-' * 10}-+-{'-' * 10}")
    for stage, (cpu, wall, calls) in stages.items():
        print(f"{stage:<46} | {cpu:>10.4f} | {wall:>11.4f} | {cpu / (tess_cpu / count):>10.3f} | {calls:>10.1f}")
    if missing:
        print("not in this code (left out):", ", ".join(missing))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
