"""The one settings object.

Every knob lives here, with a sub-model per part. Values come, highest
priority first, from: keyword arguments, environment variables
(``DIGITIZE_`` prefix, ``__`` between levels, e.g.
``DIGITIZE_OCR__DEFAULT_MODEL``), an optional TOML file named by
``DIGITIZE_CONFIG`` (or ``--config``), then the defaults below.

Settings are plain pydantic models, so they pickle cleanly into worker
processes.

Why one file of ~900 lines: one owner for every knob is the point, and each
field carries its measured reason as its description, from which
docs/configuration.md is generated (``python -m digitize.settings_doc``);
most of the length is those descriptions, one sub-model per part.
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from digitize.errors import ConfigError

__all__ = [
    "Settings", "OCRSettings", "ImageSettings", "QualitySettings", "PdfSettings", "StorageSettings",
    "CatalogSettings", "RunSettings", "InboxSettings", "ScheduleSettings", "ArchiveSettings", "WebSettings",
    "AuditSettings", "StaffSettings", "ReviewSettings", "SmtpSettings", "ReportSettings",
    "SettingsPart", "SettingValue", "data_home", "describe_settings", "load_settings",
]

# Privacy defaults: nothing phones home unless the operator says so.
PRIVACY_ENV = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # One OpenMP thread per Tesseract: threads thrash on small machines;
    # we parallelise by page instead.
    "OMP_THREAD_LIMIT": "1",
    # Likewise one OpenCV thread (read when cv2 is imported; fork-safe, unlike
    # cv2.setNumThreads): its idle pool threads spin and slowed a two-worker
    # run's image stages 5x and its OCR by a third (bench/ocr_quality.py).
    "OPENCV_FOR_THREADS_NUM": "1",
}


def apply_process_defaults() -> None:
    """Set the project's environment defaults unless the operator set them.

    Called explicitly where a process starts (the CLI, a page worker, the
    test session), before OpenCV or Tesseract are loaded: both read their
    thread limits when loaded. Importing :mod:`digitize` changes nothing.
    """
    for key, value in PRIVACY_ENV.items():
        os.environ.setdefault(key, value)


class SettingsPart(BaseModel):
    """A part's sub-model: an unknown key is refused (a typo must not silently fall back to the default)."""

    model_config = ConfigDict(extra="forbid")


def data_home() -> Path:
    """The one folder the data defaults are anchored to, never the current folder.

    ``$DIGITIZE_HOME``, else ``$XDG_DATA_HOME/digitize``, else
    ``~/.local/share/digitize``: a cron job or ``digitize catalog`` run from
    another folder finds the same catalog as the run that filled it.
    """
    chosen = os.environ.get("DIGITIZE_HOME")
    if chosen:
        return Path(chosen).expanduser().absolute()
    shared = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return shared.expanduser().absolute() / "digitize"


DATA_HOME_DOC = "$DIGITIZE_HOME, else $XDG_DATA_HOME/digitize or ~/.local/share/digitize"


class OCRSettings(SettingsPart):
    """Tesseract: which model reads which language/script."""

    models: dict[str, str] = Field(
        default_factory=lambda: {
            "az-Cyrl": "Cyrillic",
            "az-Latn": "aze",
            "ru-Cyrl": "rus",
            "ru": "rus",
            "az": "Cyrillic",
            "kk": "kaz",
            "kk-Cyrl": "kaz",
            "uz-Cyrl": "uzb_cyrl",
            "uz-Latn": "uzb",
            "uz": "uzb",
        },
        description="The Tesseract model for each item language or language-script (item.toml `ocr_model` overrides). "
        'Measured (bench/ocr_models.py): Tesseract\'s script model "Cyrillic" reads Azerbaijani Cyrillic far '
        'better than "aze_cyrl", whose character set lacks Ғ, Ө, Ү, Ч and Ш.',
    )
    default_model: str = Field(default="Cyrillic", description="The model for a language not in `models`.")
    tessdata: Path | None = Field(
        default=None, description="Folder of the Tesseract models; None: found from the Debian install."
    )
    page_segmentation_mode: int = Field(
        default=3,
        description="Tesseract page segmentation mode; 3: fully automatic, no OSD.",
    )
    timeout_seconds: float = Field(default=300.0, description="Longest time Tesseract may take to read one page.")
    postcorrect: bool = Field(
        default=True,
        description="Repair systematic misreadings in the hOCR before anything is built from it "
        "(pipeline/postcorrect.py).",
    )
    postcorrect_min_confidence: float = Field(
        default=30.0, description="Words read below this confidence are never touched by post-correction."
    )
    reread: bool = Field(
        default=True,
        description="Rescore the words Tesseract was unsure of with its own letter alternatives and the item "
        "language's lexicon and character n-grams (pipeline/reread.py); only for languages with a shipped model "
        "(pipeline/data/lexicon/); doubtful lines are also read a second time (reread_lines_below_confidence). "
        "Measured on real 1939 Komi print (bench/real_print.py, dev set): CER 3.84 % -> 1.96 % (tuning half "
        "3.10 -> 1.29 %, check half 4.67 -> 2.71 %); OCRmyPDF 3.23 % in the same run.",
    )
    reread_below_confidence: float = Field(
        default=93.0,
        description="Words Tesseract read at or above this confidence are never rescored (tuned on the tuning half "
        "of the real dev set).",
    )
    reread_lines_below_confidence: float = Field(
        default=50.0,
        description="With rescoring on, a line holding a word read below this confidence is read a second time "
        "from the picture as scanned (before dust removal, which takes dots and accents for dust) and each doubtful "
        "word keeps the better-scoring reading; 0: never. Clean lines pay nothing.",
    )

    def model_for(self, language: str, script: str | None) -> str:
        """The Tesseract model for an item's language and script."""
        if script:
            key = f"{language}-{script}"
            if key in self.models:
                return self.models[key]
        return self.models.get(language, self.default_model)


class QualitySettings(SettingsPart):
    """Page quality control: below any of these a page is flagged for re-scanning."""

    min_dpi: float = Field(default=250.0, description="Lowest resolution of the scan, dots per inch.")
    min_focus: float = Field(
        default=500.0,
        description="Lowest variance of the Laplacian of the flattened page (sharp pages 5 000-14 000, "
        "blurred by 2 px about 300).",
    )
    min_contrast: float = Field(default=80.0, description="Lowest paper − ink of the scan as delivered, 0-255.")
    min_confidence: float = Field(default=60.0, description="Lowest Tesseract mean word confidence.")
    doubtful_word_confidence: float = Field(
        default=50.0, description="A word Tesseract read below this confidence counts as doubtful."
    )
    max_doubtful_word_share: float = Field(
        default=0.12,
        description="Highest share of doubtful words on a page of 20 words or more. Calibrated on real 1939 print "
        "(bench/real_print.py): below 50 a word is wrong 3 times in 10, above 80 once in 50; the share of such words "
        "ranks pages by their real word error better than the mean confidence does; 0.12 lies above every page of "
        "the tuning half (0.07-0.10, word error 5-8 %) and flags exactly the two worst pages of the check half "
        "(0.135 and 0.145, word error 18-19 %).",
    )
    blank_ink_share: float = Field(
        default=0.0015,
        description="Below this share of ink, with no words: a blank page (not flagged for re-scanning)."
    )


class ImageSettings(SettingsPart):
    """Loading and cleaning page images."""

    max_image_pixels: int = Field(
        default=250_000_000,
        description="Pillow's decompression-bomb limit: a page larger than this is refused (250 million: about A0 "
        "at 600 dpi).",
    )
    default_dpi: int = Field(default=300, description="Resolution assumed for a scan whose file does not state one.")
    max_skew_degrees: float = Field(default=15.0, description="Largest skew deskew looks for, in degrees either way.")
    access_jpeg_quality: int = Field(
        default=75,
        description="JPEG quality of grey and colour reading images when `pdf.image_codec` is jpeg (black-and-white "
        "pages go in as lossless bi-level; the original scan stays the master).",
    )
    orientation: bool = Field(
        default=True, description="Turn pages scanned sideways or upside down (pipeline/orientation.py)."
    )
    orientation_check_below_confidence: float = Field(
        default=70.0,
        description="Upright-looking pages are tested for upside down only when their OCR mean confidence is below "
        "this (the test costs ~0.1 s; measured upright pages read at 80-90, upside-down ones at 30-45).",
    )
    crop_borders: bool = Field(default=True, description="Cut the dark scanner bed around the page (pipeline/crop.py).")
    ocr_binarization: str = Field(
        default="none",
        description='OCR input: "none" lets Tesseract binarise the flattened page (measured best); "sauvola" '
        "binarises it ourselves. The reader's picture is never binarised unless the item says "
        "binarize_access = true.",
    )
    detect_spreads: bool = Field(
        default=True,
        description='Find two-page spreads (pipeline/spread.py): frames of text items with item.toml spreads = "auto" '
        "(the default) found to be spreads are split in two pages; a wide page not split that looks like one is "
        'flagged for review. False: "auto" splits nothing and nothing is flagged (spreads = true still splits '
        "every frame).",
    )
    dewarp: bool = Field(
        default=True,
        description="Straighten text lines that bend where the page curls towards the spine (pipeline/dewarp.py); "
        "flat pages are detected in ~15 ms and left.",
    )
    quality: QualitySettings = Field(default_factory=QualitySettings)

    @field_validator("ocr_binarization")
    @classmethod
    def _known_binarization(cls, value: str) -> str:
        if value not in ("none", "sauvola"):
            raise ValueError('ocr_binarization must be "none" or "sauvola"')
        return value


class PdfSettings(SettingsPart):
    """The reading PDF (PDF/A-2b) and the other reader outputs (EPUB, thumbnail)."""

    text_layer: str = Field(
        default="original",
        description='Which words the invisible text layer holds. "original" (default): the words as printed on the '
        "page image, so what a reader selects, copies or finds is what they see, and every extractor (pdftotext, "
        "pdf.js, pdfium) reads the page in order. The Latin text is in the EPUB, the .latin.txt file and the "
        'catalog\'s search. "both": the printed script and the Latin transliteration, each word over its printed '
        "word (each line split in two bands, original above, Latin below), so the PDF can be searched in either "
        "script; measured, pdftotext's layout mode then sometimes mixes the two lines of a band pair "
        '(`pdftotext -raw` and pdfium read them in order). "latin": Latin words only.',
    )
    image_codec: str = Field(
        default="jpeg2000",
        description='Grey and colour pages: "jpeg2000" (default) or "jpeg". Measured (bench/pdf_size.py): JPEG 2000 '
        "at 1:18 and 200 dpi is about a fifth of OCRmyPDF's output; JPEG q75 at 200 dpi is 0.41 of it (grain on "
        "the paper costs JPEG dearly). PDF/A-2 allows JPEG 2000. Black-and-white scans always go in as lossless "
        "CCITT G4 (never JBIG2).",
    )
    jpeg2000_rate: float = Field(default=18.0, description="Compression ratio of the JPEG 2000 access image.")
    max_dpi: int = Field(
        default=200,
        description="Largest resolution of grey and colour access images; finer scans are scaled down (the scans "
        "themselves are kept and stored untouched; black-and-white pages keep their resolution). 0: keep the "
        "scan's resolution. Why 200: JPEG 2000 encoding time grows with the pixels and was a third of a page's "
        "time at 300 dpi (bench/ocr_quality.py); at the same bytes per page (1:18 at 200 dpi against 1:40 at 300) "
        "the picture is 0.4-1.1 dB PSNR softer against the scan (3 kinds of page) and encodes twice as fast. Set "
        "300 (and jpeg2000_rate 40) for full-resolution access images of the same size.",
    )
    thumbnail_px: int = Field(default=256, description="Longest side of the catalog thumbnail (JPEG), in pixels.")
    access_copy: bool = Field(
        default=True,
        description="Score and art items: also publish a JPEG access copy beside the lossless master "
        '(role "access-copy").',
    )
    access_copy_px: int = Field(default=2400, description="Longest side of the score/art JPEG access copy, in pixels.")
    score_ocr: str = Field(
        default="none",
        description='Scores: "titles" reads the printed text (title, composer, tempo marks) with Tesseract and lays '
        'only confidently read words, in the printed script, over the lossless image; "none" (default) adds no '
        "text. Art prints never get a text layer.",
    )

    @field_validator("text_layer")
    @classmethod
    def _known_layer(cls, value: str) -> str:
        if value not in ("both", "original", "latin"):
            raise ValueError('text_layer must be "both", "original" or "latin"')
        return value

    @field_validator("score_ocr")
    @classmethod
    def _known_score_ocr(cls, value: str) -> str:
        if value not in ("none", "titles"):
            raise ValueError('score_ocr must be "none" or "titles"')
        return value

    @field_validator("image_codec")
    @classmethod
    def _known_codec(cls, value: str) -> str:
        if value not in ("jpeg2000", "jpeg"):
            raise ValueError('image_codec must be "jpeg2000" or "jpeg"')
        return value


class ArchiveSettings(SettingsPart):
    """The preservation package: METS/ALTO/PREMIS, MARC 21 and BagIt (archive/)."""

    organization: str = Field(
        default="Digitization unit",
        description="Who made and keeps the package: METS agent, PREMIS agent, bag-info Source-Organization, "
        "MARC 533.",
    )
    marc_organization_code: str | None = Field(
        default=None,
        description="MARC organization code for 003 and 040 $a/$c (e.g. a code registered with the Library of "
        "Congress); None: 003 left out, 040 gives only $b.",
    )
    cataloging_language: str = Field(
        default="aze", description="Language of cataloguing (MARC 040 $b, MODS languageOfCataloging)."
    )
    bag: bool = Field(
        default=True,
        description="Write the BagIt package (items/<id>/<id>.bag.zip: manifests of every file, the METS, and "
        "fetch.txt naming the stored files; `digitize bag fetch` makes the complete bag); false for none.",
    )


class StorageSettings(SettingsPart):
    """Where results go: a local folder (file://) or S3 (s3://bucket/prefix)."""

    url: str = Field(
        default_factory=lambda: f"file://{data_home() / 'store'}",
        description="The object store: file://FOLDER or s3://BUCKET/PREFIX.",
        json_schema_extra={"doc_default": "file://DATA/store"},
    )
    endpoint_url: str | None = Field(
        default=None, description="S3 endpoint (e.g. SeaweedFS or MinIO); None: the AWS default."
    )
    region: str | None = Field(default=None, description="S3 region; None: the client's default.")
    access_key_id: SecretStr | None = Field(
        default=None, description="S3 access key (or the usual AWS_* variables); never printed or logged."
    )
    secret_access_key: SecretStr | None = Field(
        default=None, description="S3 secret key (or the usual AWS_* variables); never printed or logged."
    )
    multipart_chunk_mb: int = Field(
        default=16, description="Files at or above this size (MB) are uploaded in parts of this size."
    )
    connect_timeout_seconds: float = Field(default=5.0, description="S3: seconds allowed to connect.")
    max_attempts: int = Field(default=3, description="S3: attempts per request (botocore standard retries).")

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not (value.startswith("file://") or value.startswith("s3://")):
            raise ValueError("storage url must start with file:// or s3://")
        return value


class AuditSettings(SettingsPart):
    """``digitize audit``: re-reading the stored objects against manifests and the catalog."""

    threads: int = Field(
        default=4,
        description="Objects read and hashed at once. Reading is I/O-bound (hashing runs outside the GIL), "
        "so threads, not processes; more helps a remote S3 store more than a local disk.",
    )
    stale_upload_hours: float = Field(
        default=24.0,
        description="An unfinished S3 multipart upload older than this is stale: `digitize audit` lists it "
        "and, with `--abort-stale-uploads`, aborts it (its parts cost storage until then).",
    )
    state_save_seconds: float = Field(
        default=2.0,
        description="At most this long between saves of the audit's resume state (items done this round); "
        "an interrupted audit re-reads at most this much work.",
    )

    @field_validator("threads")
    @classmethod
    def _at_least_one(cls, value: int) -> int:
        if value < 1:
            raise ValueError("audit.threads must be at least 1")
        return value


class CatalogSettings(SettingsPart):
    """The e-library catalog database (SQLAlchemy URL)."""

    url: str = Field(
        default_factory=lambda: f"sqlite:///{data_home() / 'catalog.sqlite3'}",
        description="SQLAlchemy URL of the catalog: SQLite, or PostgreSQL (postgresql+psycopg://USER@HOST/DB).",
        json_schema_extra={"doc_default": "sqlite:///DATA/catalog.sqlite3"},
    )
    busy_timeout_seconds: float = Field(
        default=30.0,
        description="SQLite: how long a write waits for another connection's lock before the run reports the "
        "catalog as locked (exit code 8; the batch report lists what was not registered).",
    )


class RunSettings(SettingsPart):
    """How a batch run is orchestrated: where page tasks run, crash handling."""

    task_runner: str = Field(
        default="process",
        description='"process": a pool of worker processes on this machine; "dask": a Dask cluster (prefect-dask), '
        "local (started for the run) or at dask_address.",
    )
    dask_address: str | None = Field(
        default=None, description='The Dask scheduler, e.g. "tcp://10.0.0.5:8786"; None: a local cluster for the run.'
    )
    page_crash_limit: int = Field(
        default=3,
        description="A page whose worker process died (killed, segfault) this many times fails its item; from the "
        "second crash on it runs alone, so that a neighbour's crash is not counted against it.",
    )
    crash_backoff_seconds: float = Field(
        default=2.0,
        description="Wait before restarting workers after a crash; doubled after every crash, at most 30 s."
    )
    replace_items: bool = Field(
        default=False,
        description="An item whose identifier is registered to another item (other scans, from another folder) "
        "is refused unless this is set; then it replaces the registered item, whose masters are kept under "
        "items/<id>/versions/<n>/ in the store.",
    )
    stage_through_store: bool | None = Field(
        default=None,
        description="Page tasks get their scan from the object store and put their outputs there "
        "(delivery/staging.py), so workers need no shared disk. None: on when the page tasks run on a Dask "
        "cluster at dask_address.",
    )
    scratch_dir: Path | None = Field(
        default=None,
        description="Where a worker processes a staged page (None: the Dask worker's own local directory, else the "
        "system's temporary folder).",
    )
    start_server: bool = Field(
        default=True,
        description="`digitize run` and `digitize inbox` start the persistent Prefect server (`digitize server "
        "start`: 127.0.0.1, its database and record in DATA/prefect) when none runs, and leave it running for the "
        "next runs (`digitize server stop` ends it). False: a run uses that server when it runs, else starts a "
        "temporary server for itself, which costs each run 5-10 s before the first page (bench/throughput.py).",
    )
    server_port: int = Field(
        default=0,
        description="Port of the persistent Prefect server on 127.0.0.1; 0: a free port, chosen at start and kept "
        "in DATA/prefect/server.json (`digitize server status` shows it).",
    )
    min_free_disk_mb: int = Field(
        default=500,
        description="`digitize check` and `digitize run` refuse to start when the disk of work_dir has less free "
        "space than this (MB): a page's intermediates take a few MB, an item's PDF is written three times.",
    )

    @field_validator("task_runner")
    @classmethod
    def _known_runner(cls, value: str) -> str:
        if value not in ("process", "dask"):
            raise ValueError('task_runner must be "process" or "dask"')
        return value


class InboxSettings(SettingsPart):
    """The hot folder: staff copy batches into <root>/inbox."""

    root: Path = Field(
        default_factory=lambda: data_home() / "hotfolder",
        description="The hot folder; its areas inbox/, processing/, done/ and failed/ must be on one filesystem.",
        json_schema_extra={"doc_default": "DATA/hotfolder"},
    )
    quiet_seconds: float = Field(
        default=300.0,
        description="A batch without a READY file is taken once every item folder has its item.toml and no file "
        "changed (size, mtime) for this long.",
    )
    ready_marker: str = Field(default="READY", description="The file that marks a batch complete (create it last).")


class ScheduleSettings(SettingsPart):
    """The overnight run of the inbox (a Prefect deployment)."""

    cron: str = Field(default="0 1 * * *", description="When the inbox runs, as a cron line.")
    timezone: str = Field(default="Asia/Baku", description="The library's time zone, for the cron line.")
    deployment_name: str = Field(
        default="nightly-inbox",
        description="Name of the Prefect deployment (digitize-inbox/NAME).",
    )


class SmtpSettings(SettingsPart):
    """Mailing the morning report (``digitize run``, ``inbox``, ``report``); no host: not mailed."""

    host: str | None = Field(default=None, description="SMTP server; None: the morning report is only written.")
    port: int = Field(default=587, description="SMTP port (587 with STARTTLS, 25 on a local relay).")
    starttls: bool = Field(default=True, description="Upgrade the connection with STARTTLS before logging in.")
    user: str | None = Field(default=None, description="Login name at the SMTP server; None: no login.")
    password: SecretStr | None = Field(default=None, description="Password for the login.")
    sender: str = Field(default="digitize@localhost", description="The From address of the report mail.")
    to: list[str] = Field(
        default_factory=list,
        description="Who gets the report (in the environment a JSON list: DIGITIZE_SMTP__TO='[\"desk@example.org\"]'); "
        "empty: not mailed.",
    )
    timeout_seconds: float = Field(
        default=30.0, description="Give up on an SMTP server that does not answer (a mail problem never fails a run)."
    )


class ReportSettings(SettingsPart):
    """The morning report: reports/morning-<date>.html and .csv in the output folder."""

    thumbnail_px: int = Field(
        default=160, description="Longest side of a flagged page's picture in the report (an embedded JPEG)."
    )
    max_thumbnails: int = Field(
        default=60,
        description="Most page pictures in one report (further flagged pages are listed without one), so that the "
        "mail stays small: 60 pictures of 160 px are about 0.5 MB.",
    )


class WebSettings(SettingsPart):
    """The e-library web service (``digitize serve``)."""

    host: str = Field(
        default="127.0.0.1",
        description="Address to listen on: loopback unless the operator says otherwise.",
    )
    port: int = Field(default=8080, description="Port to listen on.")
    token: SecretStr | None = Field(
        default=None, description="Bearer token for writes (registering, withdrawing); None: writes refused."
    )
    base_url: str | None = Field(
        default=None,
        description="Public URL of the service, for links in OAI-PMH records, baseURL and MARC 856; None: taken "
        "from each request.",
    )
    repository_name: str = Field(
        default="Digitized holdings",
        description="OAI-PMH repositoryName and the site's title.",
    )
    oai_repository_id: str = Field(
        default="elibrary.local", description="OAI-PMH: identifiers are oai:<repository_id>:<item identifier>."
    )
    admin_email: str = Field(default="elibrary@localhost", description="OAI-PMH adminEmail.")
    oai_page_size: int = Field(default=100, description="Records per OAI-PMH list response (then a resumption token).")
    search_page_size: int = Field(default=20, description="Items per page of search results.")
    search_max_chars: int = Field(
        default=1000,
        description="Longest value a search field may hold (characters); a longer search is refused (422) before "
        "any search work: SQLite refuses LIKE patterns over 50,000 bytes, and folding 100 KB of words took seconds.",
    )
    search_max_words: int = Field(
        default=32,
        description="Most words a search may hold, all fields together; more are refused (422): each word is one "
        "more condition, and SQLite refuses an expression over 1,000 deep (about 1,500 words).",
    )
    max_request_bytes: int = Field(
        default=64 * 1024 * 1024,
        description="Largest request body accepted (bytes); a larger one is answered 413, by its Content-Length or "
        "as soon as a streamed body passes it. A registration carries its pages' texts: 64 MiB holds a long book.",
    )
    reading_room_networks: list[str] = Field(
        default_factory=list,
        description='Networks of the reading room (CIDR, e.g. ["10.20.0.0/16", "2001:db8::/48"]): items with '
        'access = "reading-room" can be read only from these client addresses; empty: from nowhere (metadata '
        "only).",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Reverse proxies (CIDR) whose X-Forwarded-For header gives the client address; the header of "
        "anyone else is ignored, so a reader cannot claim to be in the reading room. Empty: the address the "
        "connection comes from.",
    )

    @field_validator("oai_page_size", "search_page_size", "search_max_chars", "search_max_words", "max_request_bytes")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value

    @field_validator("reading_room_networks", "trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError as exc:
                raise ValueError(f"{network!r} is not a network in CIDR notation (e.g. 10.20.0.0/16): {exc}") from None
        return value


class StaffSettings(BaseModel):
    """Staff accounts in the e-library: signing in to review items (``digitize staff``)."""

    session_secret: SecretStr | None = Field(
        default=None,
        description="Key that signs the staff session cookie (at least 32 characters). None: a random key is made "
        "once and kept in <cache_dir>/staff-session-secret (mode 0600), so sessions survive a restart; set it when "
        "several web processes serve one catalog.",
    )
    session_hours: float = Field(
        default=12.0, description="A staff session ends this many hours after signing in (one working day)."
    )
    secure_cookie: bool | None = Field(
        default=None,
        description="Mark the session cookie Secure (sent over https only). None: when the request came over https "
        "(or base_url is https).",
    )
    min_password_chars: int = Field(
        default=12, description="Shortest password a staff account may have (NIST SP 800-63B asks at least 8)."
    )
    max_failed_logins: int = Field(
        default=5,
        description="Failed sign-ins in a row after which an account is refused for lockout_seconds (slows guessing).",
    )
    lockout_seconds: float = Field(
        default=300.0, description="How long an account is refused after max_failed_logins failed sign-ins."
    )
    failed_login_delay: float = Field(
        default=1.0, description="Seconds every failed sign-in waits before it is answered (slows guessing)."
    )

    @field_validator("session_hours", "min_password_chars", "max_failed_logins")
    @classmethod
    def _staff_positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be above 0")
        return value


def _default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/digitize, or ~/.cache/digitize."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "digitize"


class ReviewSettings(SettingsPart):
    """Review before publishing (``digitize review``): which items wait for a person."""

    publish: str = Field(
        default="review-flagged",
        description="always: every processed item is published at once; review-flagged: an item with a page "
        "flagged for re-scanning, a failed page or a mean OCR confidence below image.quality.min_confidence "
        "waits in review, the rest is published; review-all: every item waits in review.",
    )

    @field_validator("publish")
    @classmethod
    def _known_policy(cls, value: str) -> str:
        if value not in ("always", "review-flagged", "review-all"):
            raise ValueError("must be always, review-flagged or review-all")
        return value


class Settings(BaseSettings):
    """Every knob of the pipeline."""

    model_config = SettingsConfigDict(
        env_prefix="DIGITIZE_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    work_dir: Path = Field(
        default_factory=lambda: data_home() / "work",
        description="Every intermediate, per item and page; resume reads it. The data defaults (work_dir, "
        f"output_dir, storage.url, catalog.url, inbox.root) sit in one data folder, DATA: {DATA_HOME_DOC}; "
        "never the current folder, so that a run from cron and one from a terminal share one catalog.",
        json_schema_extra={"doc_default": "DATA/work"},
    )
    output_dir: Path = Field(
        default_factory=lambda: data_home() / "output",
        description="The items' files and the batch reports.",
        json_schema_extra={"doc_default": "DATA/output"},
    )
    cache_dir: Path = Field(
        default_factory=lambda: _default_cache_dir(),
        description="What a machine can keep between runs, derived from what is installed (the OCR post-correction "
        "lexicon, drawn from a Tesseract model): per machine, so a Dask worker keeps its own beside the flow's.",
        json_schema_extra={"doc_default": "$XDG_CACHE_HOME/digitize or ~/.cache/digitize"},
    )
    workers: int = Field(
        default_factory=lambda: max(1, os.cpu_count() or 1),
        description="Pages processed at once (one Tesseract thread each).",
        json_schema_extra={"doc_default": "the number of cores"},
    )
    ocr: OCRSettings = Field(default_factory=OCRSettings)
    image: ImageSettings = Field(default_factory=ImageSettings)
    pdf: PdfSettings = Field(default_factory=PdfSettings)
    archive: ArchiveSettings = Field(default_factory=ArchiveSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    runs: RunSettings = Field(default_factory=RunSettings)
    inbox: InboxSettings = Field(default_factory=InboxSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    staff: StaffSettings = Field(default_factory=StaffSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        check_environment(os.environ, settings_cls)
        return (init_settings, env_settings, _TomlFileSource(settings_cls))

    def fingerprint(self, *parts: str) -> str:
        """A short hash of the settings that change a stage's output.

        ``parts`` names the sub-models that matter (e.g. "ocr", "image"), so
        that changing the storage URL does not invalidate the OCR cache.
        """
        data = {part: self._dump_part(part) for part in parts}
        blob = json.dumps(data, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def _dump_part(self, part: str) -> Any:
        value = getattr(self, part)
        return value.model_dump(mode="json") if isinstance(value, BaseModel) else str(value)


# The TOML file chosen by load_settings(config_file=...) while it builds the settings.
_config_file: ContextVar[Path | None] = ContextVar("digitize_config_file", default=None)


class _TomlFileSource(PydanticBaseSettingsSource):
    """Reads the optional TOML file named by DIGITIZE_CONFIG."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        """Unused: the whole file is read at once by ``__call__``."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        chosen = _config_file.get()
        path = str(chosen) if chosen is not None else os.environ.get("DIGITIZE_CONFIG")
        if not path:
            return {}
        data = _read_file(Path(path))
        unknown = unknown_keys(data, self.settings_cls)
        if unknown:
            raise ConfigError(f"config file {path}: {'; '.join(unknown)}")
        return data


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} (--config or DIGITIZE_CONFIG) does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def _sub_model(field: FieldInfo) -> type[BaseModel] | None:
    annotation = field.annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _is_mapping(field: FieldInfo) -> bool:
    """A free-form table such as ``ocr.models``: its keys are data, not setting names."""
    return getattr(field.annotation, "__origin__", None) is dict


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""


def unknown_keys(data: Mapping[str, Any], model: type[BaseModel], where: tuple[str, ...] = ()) -> list[str]:
    """One sentence per key of a settings table that names no setting, with the nearest name."""
    problems: list[str] = []
    fields = model.model_fields
    for key, value in data.items():
        field = fields.get(key)
        section = f"[{'.'.join(where)}] " if where else ""
        if field is None:
            problems.append(f"{section}setting `{key}` is not known{_did_you_mean(key, list(fields))}")
            continue
        part = _sub_model(field)
        if part is not None and isinstance(value, Mapping):
            problems.extend(unknown_keys(value, part, (*where, key)))
    return problems


# DIGITIZE_ variables that are not settings: the file, the data folder, and the test suite's own hooks.
_NOT_SETTINGS = ("DIGITIZE_CONFIG", "DIGITIZE_HOME")
_NOT_SETTINGS_PREFIXES = ("DIGITIZE_TEST_", "DIGITIZE_FAULT_")
_ENV_PREFIX = "DIGITIZE_"


def _env_names(model: type[BaseModel], prefix: str = _ENV_PREFIX) -> list[str]:
    names: list[str] = []
    for name, field in model.model_fields.items():
        full = f"{prefix}{name.upper()}"
        names.append(full)
        part = _sub_model(field)
        if part is not None:
            names.extend(_env_names(part, full + "__"))
    return names


def _env_known(parts: list[str], model: type[BaseModel]) -> bool:
    field = model.model_fields.get(parts[0])
    if field is None:
        return False
    if len(parts) == 1 or _is_mapping(field):
        return True
    part = _sub_model(field)
    return part is not None and _env_known(parts[1:], part)


def check_environment(environ: Mapping[str, str], model: type[BaseModel]) -> None:
    """Refuse a ``DIGITIZE_…`` variable that names no setting (pydantic-settings ignores it silently)."""
    problems: list[str] = []
    names: list[str] | None = None
    for key in sorted(environ):
        upper = key.upper()
        if not upper.startswith(_ENV_PREFIX) or upper in _NOT_SETTINGS or upper.startswith(_NOT_SETTINGS_PREFIXES):
            continue
        if _env_known(upper[len(_ENV_PREFIX):].lower().split("__"), model):
            continue
        names = names if names is not None else [*_env_names(model), *_NOT_SETTINGS]
        problems.append(f"environment variable {key} names no setting{_did_you_mean(upper, names)}")
    if problems:
        raise ConfigError(
            "; ".join(problems) + " (settings and their variables: docs/configuration.md; "
            "`digitize config show` prints what is in effect)"
        )


def _plain_errors(exc: ValidationError) -> str:
    """Pydantic's errors in plain words: the setting, its variable, and what is wrong."""
    problems = []
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        dotted = ".".join(loc)
        env = _ENV_PREFIX + "__".join(loc).upper()
        if err["type"] == "extra_forbidden":
            problems.append(f"setting `{dotted}` is not known")
            continue
        message = str(err["ctx"]["error"]) if err["type"] == "value_error" and "ctx" in err else err["msg"]
        problems.append(f"setting `{dotted}` ({env}): {message}")
    return "; ".join(problems)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings, turning validation problems into a ConfigError.

    ``config_file`` (else ``DIGITIZE_CONFIG``) is read for this call only; the
    environment is not changed: other processes get the settings object itself.
    """
    unknown = unknown_keys(overrides, Settings)
    if unknown:
        raise ConfigError("; ".join(unknown))
    token = _config_file.set(config_file)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(f"invalid settings: {_plain_errors(exc)}") from exc
    finally:
        _config_file.reset(token)


@dataclass(frozen=True)
class SettingValue:
    """One setting in effect, for ``digitize config show``: secrets already masked."""

    name: str
    value: str
    source: str  # "default", "file", "environment" or "option"


_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/:@\s]*:)[^@/\s]+@", re.IGNORECASE)


def mask_secrets(text: str) -> str:
    """A URL's password replaced by ``***`` (``postgresql://u:***@host/db``)."""
    return _URL_PASSWORD.sub(lambda match: f"{match['head']}***@", text)


def _shown(value: Any) -> str:
    if isinstance(value, SecretStr):
        return "**********" if value.get_secret_value() else ""
    if isinstance(value, dict):
        return mask_secrets(json.dumps(value, ensure_ascii=False, sort_keys=True))
    return mask_secrets("" if value is None else str(value))


def _has(data: Mapping[str, Any], path: tuple[str, ...]) -> bool:
    node: Any = data
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def describe_settings(config_file: Path | None = None, **overrides: Any) -> list[SettingValue]:
    """Every setting in effect with where its value came from (option > environment > file > default)."""
    settings = load_settings(config_file, **overrides)
    chosen = config_file if config_file is not None else os.environ.get("DIGITIZE_CONFIG")
    file_data = _read_file(Path(chosen)) if chosen else {}
    environ = {key.upper() for key in os.environ}
    values: list[SettingValue] = []

    def walk(model: BaseModel, path: tuple[str, ...]) -> None:
        for name, field in type(model).model_fields.items():
            here = (*path, name)
            value = getattr(model, name)
            if _sub_model(field) is not None and isinstance(value, BaseModel):
                walk(value, here)
                continue
            env = _ENV_PREFIX + "__".join(here).upper()
            ancestors = {_ENV_PREFIX + "__".join(here[:n]).upper() for n in range(1, len(here))}
            if _has(overrides, here):
                source = "option"
            elif env in environ or environ & ancestors or any(key.startswith(env + "__") for key in environ):
                source = "environment"
            elif _has(file_data, here):
                source = "file"
            else:
                source = "default"
            values.append(SettingValue(".".join(here), _shown(value), source))

    walk(settings, ())
    return values
