"""The e-library's interface language: Azerbaijani (default), Russian, English.

Templates write their English text as ``{{ _("Search") }}`` (and
``ngettext("%(num)d item", "%(num)d items", n)``); the message catalogs in
``locale/<code>/LC_MESSAGES/messages.po`` hold the Azerbaijani and Russian.
English is the source language, so it needs no catalog.

The language of a request is, in this order: ``?lang=`` (which also sets
the ``lang`` cookie, so the switch in the page header sticks), the ``lang``
cookie, the browser's ``Accept-Language``, and else Azerbaijani. It is read
from the ``request`` in the template context, so the one shared Jinja
environment serves every language at once without any per-request state.

Python code gives a reader text as ``Translatable("English %(value)s", value=...)``
(an English ``str`` for logs and JSON) and a page shows ``localized(request, text)``.

The ``.po`` files are compiled in memory with Babel's own ``.mo`` writer
when a language is first used (a few milliseconds): nothing has to be built
at install time, and the catalogs in the repository are the ones served.
Dates, numbers and file sizes are formatted with Babel's CLDR data for the
same language.
"""

from __future__ import annotations

import datetime as dt
import gettext as gettext_module
import io
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime as babel_format_datetime
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.numbers import format_decimal
from babel.support import Translations
from babel.units import format_unit
from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "COOKIE",
    "DEFAULT_LOCALE",
    "LOCALES",
    "LOCALE_DIR",
    "LanguageCookie",
    "Translatable",
    "extract_messages",
    "human_size",
    "install",
    "localized",
    "negotiate",
    "repository_name",
    "request_locale",
    "translations",
    "update_catalogs",
]

LOCALES = ("az", "ru", "en")
DEFAULT_LOCALE = "az"
COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
# Each language named in itself, for the switch in the page header.
NATIVE_NAMES = {"az": "Azərbaycanca", "ru": "Русский", "en": "English"}


@lru_cache(maxsize=len(LOCALES))
def translations(locale: str) -> gettext_module.NullTranslations:
    """The compiled catalog of ``locale``; English (the source text) and a missing catalog translate to themselves."""
    po = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if locale not in LOCALES or locale == "en" or not po.exists():
        return gettext_module.NullTranslations()
    with po.open("rb") as source:
        catalog = read_po(source, locale=locale, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out, as msgfmt does
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


class Translatable(str):
    """A message the Python code gives a reader: English as a ``str`` (logs, JSON answers), translated in pages.

    ``Translatable("item %(identifier)s has no page %(seq)s", identifier=..., seq=3)`` is the English text
    with the values in; a page shows ``localized(request, message)``: the msgid translated for the
    request's language, then the same values put in. ``extract_messages`` finds every
    ``Translatable("…")`` in the e-library's modules, so their msgids are in the catalogs with the
    templates' (and ``tests/test_i18n.py`` wants them translated too).
    """

    msgid: str
    values: Mapping[str, object]

    def __new__(cls, msgid: str, **values: object) -> Translatable:
        self = super().__new__(cls, msgid % values if values else msgid)
        self.msgid = msgid
        self.values = values
        return self

    def in_language(self, locale: str) -> str:
        text = translations(locale).gettext(self.msgid)
        return text % self.values if self.values else text


def localized(request: Request, text: str) -> str:
    """``text`` in the request's language when it is a ``Translatable``; any other text as it is."""
    return text.in_language(request_locale(request)) if isinstance(text, Translatable) else text


# The settings' default name (settings.web.repository_name), marked here so the catalogs translate it.
DEFAULT_REPOSITORY_NAME = Translatable("Digitized holdings")


def repository_name(configured: str, locale: str) -> str:
    """The site's name in ``locale``: translated when the catalogs know it (the default name), else as configured."""
    return translations(locale).gettext(configured) if configured else configured


def _supported(tag: str | None) -> str | None:
    """``ru-RU`` → ``ru``, ``az-Latn-AZ`` → ``az``; None for a language the interface does not speak."""
    if not tag:
        return None
    primary = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in LOCALES else None


def _accepted(header: str) -> list[str]:
    """The languages of an ``Accept-Language`` header, most wanted first (q=0 left out)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:50]):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _eq, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, position, tag.strip()))
    return [tag for _q, _p, tag in sorted(ranked)]


def negotiate(query: str | None = None, cookie: str | None = None, accept_language: str | None = None) -> str:
    """The interface language: the query's ``lang``, else the cookie's, else the browser's first we speak, else az."""
    for choice in (query, cookie):
        if (locale := _supported(choice)) is not None:
            return locale
    for tag in _accepted(accept_language or ""):
        if tag == "*":
            return DEFAULT_LOCALE
        if (locale := _supported(tag)) is not None:
            return locale
    return DEFAULT_LOCALE


def request_locale(request: Request) -> str:
    """The language of this request (worked out once, then kept on ``request.state``)."""
    known = getattr(request.state, "locale", None)
    if isinstance(known, str):
        return known
    locale = negotiate(
        request.query_params.get("lang"), request.cookies.get(COOKIE), request.headers.get("accept-language")
    )
    request.state.locale = locale
    return locale


def _context_locale(context: Context) -> str:
    request = context.get("request")
    return request_locale(request) if isinstance(request, Request) else DEFAULT_LOCALE


def human_size(size: int | None, locale: str) -> str:
    """A file size as people read it, in the locale's words and digits: ``532 bayt``, ``1,2 МБ``, ``3.4 GB``."""
    if size is None:
        return ""
    if size < 1000:
        return format_unit(size, "digital-byte", length="long", locale=locale)
    value = float(size)
    for unit in ("kilobyte", "megabyte", "gigabyte", "terabyte"):
        value /= 1000
        if value < 1000 or unit == "terabyte":
            break
    shown = round(value, 1) if value < 100 else round(value)
    return format_unit(shown, f"digital-{unit}", length="short", locale=locale, format="#,##0.#")


def _switch_links(context: Context) -> list[dict[str, Any]]:
    """The language switch: each language with this page's address asking for it."""
    request = context.get("request")
    current = _context_locale(context)
    links = []
    for code in LOCALES:
        if isinstance(request, Request):
            params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"] + [("lang", code)]
            href = f"{request.url.path}?{urlencode(params)}"
        else:
            href = f"/?lang={code}"
        links.append({"code": code, "name": NATIVE_NAMES[code], "href": href, "current": code == current})
    return links


def install(env: Environment) -> None:
    """Give every template of ``env`` ``_``/``gettext``/``ngettext``/``pgettext`` and the locale's formatters.

    Newstyle gettext: ``_("Page %(n)s of %(total)s", n=3, total=9)`` formats
    with the named values, escaping them (the templates autoescape).
    """

    @pass_context
    def gettext(context: Context, message: str) -> str:
        return translations(_context_locale(context)).gettext(message)

    @pass_context
    def ngettext(context: Context, singular: str, plural: str, n: int) -> str:
        return translations(_context_locale(context)).ngettext(singular, plural, n)

    @pass_context
    def pgettext(context: Context, message_context: str, message: str) -> str:
        return translations(_context_locale(context)).pgettext(message_context, message)

    @pass_context
    def npgettext(context: Context, message_context: str, singular: str, plural: str, n: int) -> str:
        return translations(_context_locale(context)).npgettext(message_context, singular, plural, n)

    env.add_extension("jinja2.ext.i18n")
    install_callables: Callable[..., None] = env.install_gettext_callables  # type: ignore[attr-defined]
    install_callables(gettext, ngettext, newstyle=True, pgettext=pgettext, npgettext=npgettext)

    @pass_context
    def current_locale(context: Context) -> str:
        return _context_locale(context)

    @pass_context
    def number(context: Context, value: float | int | None) -> str:
        return "" if value is None else format_decimal(value, locale=_context_locale(context))

    @pass_context
    def date(context: Context, value: dt.date | None, format: str = "medium") -> str:
        """The day (of a date or a datetime) in the locale's words: ``7 dekabr 2026``, ``7 декабря 2026 г.``."""
        return "" if value is None else babel_format_date(value, format, locale=_context_locale(context))

    @pass_context
    def datetime(context: Context, value: dt.datetime | None, format: str = "short") -> str:
        """Day and time, in UTC (as the catalog keeps them) in the locale's form."""
        if value is None:
            return ""
        return babel_format_datetime(value, format, tzinfo=dt.UTC, locale=_context_locale(context))

    @pass_context
    def filesize(context: Context, value: int | None) -> str:
        return human_size(value, _context_locale(context))

    @pass_context
    def language_name(context: Context, code: str | None) -> str:
        """``az`` → ``azərbaycan`` / ``азербайджанский`` / ``Azerbaijani`` (the code itself when CLDR has no name)."""
        if not code:
            return ""
        names = Locale.parse(_context_locale(context)).languages
        return str(names.get(code.replace("-", "_"), names.get(code.split("-")[0], code)))

    @pass_context
    def script_name(context: Context, code: str | None) -> str:
        """``Cyrl`` → ``kiril`` / ``кириллица`` / ``Cyrillic``."""
        if not code:
            return ""
        return str(Locale.parse(_context_locale(context)).scripts.get(code, code))

    env.globals["current_locale"] = current_locale
    env.filters["language_name"] = language_name
    env.filters["script_name"] = script_name
    env.globals["language_links"] = pass_context(_switch_links)
    env.filters["number"] = number
    env.filters["date"] = date
    env.filters["datetime"] = datetime
    env.filters["filesize"] = filesize


TEMPLATES_DIR = Path(__file__).parent / "templates"
MODULES_DIR = Path(__file__).parent
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2), "npgettext": ((1, "c"), 2, 3)}


def extract_messages() -> Catalog:
    """Every message the templates ask to translate (Babel's Jinja extractor), with where each is used."""
    catalog = Catalog(project="digitize e-library", version="1", domain=DOMAIN, charset="utf-8", fuzzy=False,
                      header_comment="# The e-library's interface: every message of its templates.",
                      last_translator="digitize project", language_team="digitize project")
    method_map = [("**.html", "jinja2")]
    options = {"**.html": {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true", "trimmed": "false"}}
    for filename, lineno, message, comments, context in extract_from_dir(
        str(TEMPLATES_DIR), method_map, options, keywords=KEYWORDS, comment_tags=("Translators:",)
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    # The messages the e-library's Python code gives readers (login errors, refusals, error pages).
    for filename, lineno, message, comments, context in extract_from_dir(
        str(MODULES_DIR), [("*.py", "python")], keywords={"Translatable": None}, comment_tags=("Translators:",)
    ):
        catalog.add(message, None, [(f"../{filename}", lineno)], auto_comments=comments, context=context,
                    flags=("python-format",) if "%(" in str(message) else ())
    return catalog


def update_catalogs() -> list[Path]:
    """Write ``messages.pot`` from the templates and merge it into each language's ``.po`` (new messages untranslated).

    Run after changing a template: ``python -m digitize.elibrary.i18n``; then translate what
    ``tests/test_i18n.py`` reports missing.
    """
    template = extract_messages()
    written = [LOCALE_DIR / f"{DOMAIN}.pot"]
    LOCALE_DIR.mkdir(parents=True, exist_ok=True)
    with written[0].open("wb") as out:
        write_po(out, template, width=100, omit_header=False, sort_output=True)
    for locale in LOCALES:
        if locale == "en":
            continue
        po = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
        if po.exists():
            with po.open("rb") as source:
                catalog = read_po(source, locale=locale, domain=DOMAIN)
        else:
            po.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(locale=locale, domain=DOMAIN, project="digitize e-library", charset="utf-8", fuzzy=False)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.header_comment = (
            f"# The e-library's interface in {NATIVE_NAMES[locale]} ({locale}).\n"
            "# Msgids are the English of the templates; update with: python -m digitize.elibrary.i18n"
        )
        catalog.last_translator = catalog.language_team = "digitize project"
        catalog.version = "1"
        with po.open("wb") as out:
            write_po(out, catalog, width=100, sort_output=True, ignore_obsolete=True)
        written.append(po)
        translations.cache_clear()
    return written


class LanguageCookie:
    """Remember ``?lang=`` in a cookie, and tell caches that pages differ by language.

    A plain ASGI middleware (not ``BaseHTTPMiddleware``), so streamed file
    responses pass through untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        chosen = _supported(request.query_params.get("lang"))
        locale = request_locale(request)

        async def send_with_language(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").startswith("text/html"):
                    headers.append("Vary", "Accept-Language, Cookie")
                    headers.setdefault("Content-Language", locale)
                if chosen is not None and chosen != request.cookies.get(COOKIE):
                    headers.append(
                        "Set-Cookie", f"{COOKIE}={chosen}; Path=/; Max-Age={COOKIE_MAX_AGE}; SameSite=Lax"
                    )
            await send(message)

        await self.app(scope, receive, send_with_language)


if __name__ == "__main__":
    for path in update_catalogs():
        print(path)
