"""OAI-PMH 2.0 with oai_dc, so aggregators can harvest the e-library.

``respond(params, ...)`` turns the request's arguments into the response
document. Withdrawn items stay harvestable as deleted records
(``deletedRecord = persistent``). Sets: ``kind:<kind>`` and
``collection:<name in ASCII>``. Datestamps are the items' ``updated_at``
(seconds, UTC).

Lists are paged with resumption tokens that carry the position of the last
record sent (its datestamp and row id), not an offset, and the moment the
list started: records changed during a harvest are neither skipped nor sent
twice; they come with the next incremental harvest.
"""

from __future__ import annotations

import base64
import json
import re
import unicodedata
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import TypedDict

from lxml import etree

from digitize.archive.records import dublin_core_xml
from digitize.settings import WebSettings
from digitize.storage.catalog import Catalog, CatalogItem, ReviewState, fold

__all__ = ["respond", "OAI_DC", "set_spec_for_collection"]

OAI = "http://www.openarchives.org/OAI/2.0/"
OAI_DC = "http://www.openarchives.org/OAI/2.0/oai_dc/"
OAI_DC_SCHEMA = "http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
OAI_IDENTIFIER = "http://www.openarchives.org/OAI/2.0/oai-identifier"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
GRANULARITY = "YYYY-MM-DDThh:mm:ssZ"

# verb -> (required arguments, optional arguments); resumptionToken is exclusive.
VERBS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "Identify": (frozenset(), frozenset()),
    "ListMetadataFormats": (frozenset(), frozenset({"identifier"})),
    "ListSets": (frozenset(), frozenset({"resumptionToken"})),
    "GetRecord": (frozenset({"identifier", "metadataPrefix"}), frozenset()),
    "ListIdentifiers": (frozenset({"metadataPrefix"}), frozenset({"from", "until", "set", "resumptionToken"})),
    "ListRecords": (frozenset({"metadataPrefix"}), frozenset({"from", "until", "set", "resumptionToken"})),
}
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")  # matched whole (fullmatch)
_SECOND = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
# Control characters and what XML cannot hold: never part of an argument, and
# echoed into the response's request element they would break the document.
_REFUSED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_MAX_TOKEN = 4096  # ours are a few hundred characters
_MAX_ROW_ID = 2**63 - 1  # the catalog's integer columns


class _ListState(TypedDict):
    """Where a list harvest is: what a resumptionToken carries (as JSON)."""

    verb: str
    set: str | None
    since: str | None  # ISO 8601
    before: str  # ISO 8601: the list is what had changed by then
    after: list[str | int] | None  # [datestamp (ISO 8601), row id] of the last record sent
    cursor: int


class OAIError(Exception):
    """An OAI-PMH protocol answer (``badArgument``, ``noRecordsMatch`` ...), not a failure.

    Deliberately outside the DigitizeError hierarchy: it never leaves ``respond``,
    which turns it into the ``<error code=...>`` element of a normal 200 response,
    so it has no stage, no retry and no exit code.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def respond(
    params: Iterable[tuple[str, str]],
    catalog: Catalog,
    web: WebSettings,
    oai_url: str,
    site_url: str,
    now: datetime | None = None,
) -> bytes:
    """The OAI-PMH response document for one request's arguments."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    root = etree.Element(f"{{{OAI}}}OAI-PMH", nsmap={None: OAI, "xsi": XSI})
    root.set(f"{{{XSI}}}schemaLocation", f"{OAI} http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd")
    etree.SubElement(root, f"{{{OAI}}}responseDate").text = _datestamp(now)
    request = etree.SubElement(root, f"{{{OAI}}}request")
    request.text = oai_url
    handler = _Handler(catalog, web, oai_url, site_url, now)
    try:
        args = _check_arguments(list(params))
    except OAIError as error:  # badVerb / badArgument: the request element gets no attributes
        _error(root, error)
        return _serialise(root)
    for name, value in args.items():
        request.set(name, value)
    try:
        root.append(handler.verb(args["verb"])(args))
    except OAIError as error:
        if error.code in ("badVerb", "badArgument"):
            for name in list(request.attrib):
                del request.attrib[name]
        _error(root, error)
    return _serialise(root)


def _check_arguments(params: list[tuple[str, str]]) -> dict[str, str]:
    names = [name for name, _ in params]
    verbs = [value for name, value in params if name == "verb"]
    if len(verbs) != 1:
        raise OAIError("badVerb", "the verb argument is missing" if not verbs else "the verb argument is repeated")
    verb = verbs[0]
    if verb not in VERBS:
        raise OAIError("badVerb", f"{verb!r} is not an OAI-PMH verb")
    for name, value in params:
        bad = _REFUSED.search(name + value)
        if bad:
            raise OAIError(
                "badArgument",
                f"the argument {name!r} holds the control character U+{ord(bad.group()):04X}; OAI-PMH arguments "
                "are plain text",
            )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise OAIError("badArgument", f"repeated arguments: {', '.join(repeated)}")
    args = dict(params)
    required, optional = VERBS[verb]
    given = set(args) - {"verb"}
    illegal = given - required - optional
    if illegal:
        raise OAIError("badArgument", f"illegal arguments for {verb}: {', '.join(sorted(illegal))}")
    if "resumptionToken" in given:
        if given != {"resumptionToken"}:
            raise OAIError("badArgument", "resumptionToken is an exclusive argument")
        return args
    missing = required - given
    if missing:
        raise OAIError("badArgument", f"missing arguments for {verb}: {', '.join(sorted(missing))}")
    return args


class _Handler:
    def __init__(self, catalog: Catalog, web: WebSettings, oai_url: str, site_url: str, now: datetime) -> None:
        self.catalog = catalog
        self.web = web
        self.oai_url = oai_url
        self.site_url = site_url
        self.now = now

    def _el(self, name: str, text: str | None = None, parent: etree._Element | None = None) -> etree._Element:
        element: etree._Element = (
            etree.Element(f"{{{OAI}}}{name}") if parent is None else etree.SubElement(parent, f"{{{OAI}}}{name}")
        )
        if text is not None:
            element.text = text
        return element

    def verb(self, name: str) -> Callable[[dict[str, str]], etree._Element]:
        """The handler of an OAI-PMH verb (``name`` is one of VERBS, checked before)."""
        return {
            "Identify": self.Identify,
            "ListMetadataFormats": self.ListMetadataFormats,
            "ListSets": self.ListSets,
            "GetRecord": self.GetRecord,
            "ListIdentifiers": self.ListIdentifiers,
            "ListRecords": self.ListRecords,
        }[name]

    # -- verbs -------------------------------------------------------------

    def Identify(self, _args: dict[str, str]) -> etree._Element:
        out = self._el("Identify")
        self._el("repositoryName", self.web.repository_name, out)
        self._el("baseURL", self.oai_url, out)
        self._el("protocolVersion", "2.0", out)
        self._el("adminEmail", self.web.admin_email, out)
        earliest = self.catalog.earliest_change() or self.now
        self._el("earliestDatestamp", _datestamp(earliest), out)
        self._el("deletedRecord", "persistent", out)
        self._el("granularity", GRANULARITY, out)
        description = self._el("description", None, out)
        ident = etree.SubElement(description, f"{{{OAI_IDENTIFIER}}}oai-identifier", nsmap={None: OAI_IDENTIFIER})
        ident.set(f"{{{XSI}}}schemaLocation", f"{OAI_IDENTIFIER} http://www.openarchives.org/OAI/2.0/oai-identifier.xsd")
        for name, value in (
            ("scheme", "oai"),
            ("repositoryIdentifier", self.web.oai_repository_id),
            ("delimiter", ":"),
            ("sampleIdentifier", f"oai:{self.web.oai_repository_id}:az-1968-0042"),
        ):
            etree.SubElement(ident, f"{{{OAI_IDENTIFIER}}}{name}").text = value
        return out

    def ListMetadataFormats(self, args: dict[str, str]) -> etree._Element:
        if "identifier" in args:
            self._item(args["identifier"])
        out = self._el("ListMetadataFormats")
        fmt = self._el("metadataFormat", None, out)
        self._el("metadataPrefix", "oai_dc", fmt)
        self._el("schema", OAI_DC_SCHEMA, fmt)
        self._el("metadataNamespace", OAI_DC, fmt)
        return out

    def ListSets(self, args: dict[str, str]) -> etree._Element:
        if "resumptionToken" in args:
            raise OAIError("badResumptionToken", "ListSets is never split; this token was not issued here")
        out = self._el("ListSets")
        for spec, name in self._sets():
            entry = self._el("set", None, out)
            self._el("setSpec", spec, entry)
            self._el("setName", name, entry)
        return out

    def GetRecord(self, args: dict[str, str]) -> etree._Element:
        item = self._item(args["identifier"])
        _check_prefix(args["metadataPrefix"])
        out = self._el("GetRecord")
        out.append(self._record(item))
        return out

    def ListIdentifiers(self, args: dict[str, str]) -> etree._Element:
        return self._list("ListIdentifiers", args)

    def ListRecords(self, args: dict[str, str]) -> etree._Element:
        return self._list("ListRecords", args)

    # -- helpers -----------------------------------------------------------

    def _list(self, verb: str, args: dict[str, str]) -> etree._Element:
        state: _ListState
        if "resumptionToken" in args:
            state = _decode_token(args["resumptionToken"], verb)
        else:
            _check_prefix(args["metadataPrefix"])
            since, before = _date_range(args.get("from"), args.get("until"))
            state = {
                "verb": verb,
                "set": args.get("set"),
                "since": since.isoformat() if since else None,
                # The list is what had changed when it started (see the module doc).
                "before": (before or self.now + timedelta(seconds=1)).isoformat(),
                "after": None,
                "cursor": 0,
            }
        kind, collection = self._set_filter(state["set"])
        since = datetime.fromisoformat(state["since"]) if state["since"] else None
        before = datetime.fromisoformat(state["before"])
        after = (datetime.fromisoformat(str(state["after"][0])), int(state["after"][1])) if state["after"] else None
        total, items = self.catalog.changed_items(
            since=since, before=before, kind=kind, collection=collection, after=after, limit=self.web.oai_page_size
        )
        if not items:
            if state["cursor"]:
                raise OAIError("badResumptionToken", "the list this token continues has changed; start again")
            raise OAIError("noRecordsMatch", "no records match these arguments")
        out = self._el(verb)
        for changed in items:
            out.append(self._record(changed.item) if verb == "ListRecords" else self._header(changed.item))
        cursor = state["cursor"]
        delivered = cursor + len(items)
        if delivered < total or "resumptionToken" in args:
            token = self._el("resumptionToken", None, out)
            token.set("completeListSize", str(total))
            token.set("cursor", str(cursor))
            if delivered < total:
                last_at, last_id = items[-1].position
                token.text = _encode_token({**state, "after": [last_at.isoformat(), last_id], "cursor": delivered})
        return out

    def _item(self, oai_identifier: str) -> CatalogItem:
        prefix = f"oai:{self.web.oai_repository_id}:"
        item = None
        if oai_identifier.startswith(prefix):
            item = self.catalog.get(oai_identifier[len(prefix):])
        if item is None or item.review_state != ReviewState.PUBLISHED:  # waiting for review: not harvestable
            raise OAIError("idDoesNotExist", f"{oai_identifier!r} is not an identifier of this repository")
        return item

    def _sets(self) -> list[tuple[str, str]]:
        sets = [(f"kind:{kind}", f"Kind: {kind}") for kind in self.catalog.kinds()]
        sets += [
            (set_spec_for_collection(c), f"Collection: {c}")
            for c in self.catalog.collections(include_withdrawn=True)
        ]
        return sets

    def _set_filter(self, spec: str | None) -> tuple[str | None, str | None]:
        if spec is None:
            return None, None
        if spec.startswith("kind:"):
            return spec[len("kind:"):], None
        for collection in self.catalog.collections(include_withdrawn=True):
            if set_spec_for_collection(collection) == spec:
                return None, collection
        raise OAIError("noRecordsMatch", f"there is no set {spec!r} (ListSets names them)")

    def _header(self, item: CatalogItem) -> etree._Element:
        header = self._el("header")
        if not item.public:
            header.set("status", "deleted")
        self._el("identifier", f"oai:{self.web.oai_repository_id}:{item.identifier}", header)
        self._el("datestamp", _datestamp(item.updated_at), header)
        self._el("setSpec", f"kind:{item.kind}", header)
        if item.collection:
            self._el("setSpec", set_spec_for_collection(item.collection), header)
        return header

    def _record(self, item: CatalogItem) -> etree._Element:
        record = self._el("record")
        record.append(self._header(item))
        if item.public:
            metadata = self._el("metadata", None, record)
            dc = dublin_core_xml(item.record(), url=f"{self.site_url}/items/{item.identifier}")
            metadata.append(etree.fromstring(dc))
        return record


def set_spec_for_collection(collection: str) -> str:
    """``collection:`` and the name in ASCII letters, digits and dashes (setSpec's alphabet)."""
    latin = fold(collection).replace("ə", "e")
    ascii_name = unicodedata.normalize("NFKD", latin).encode("ascii", "ignore").decode()
    return "collection:" + (re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-") or "unnamed")


def _check_prefix(prefix: str) -> None:
    if prefix != "oai_dc":
        raise OAIError("cannotDisseminateFormat", f"metadata format {prefix!r} is not offered; use oai_dc")


def _parse_date(value: str, name: str) -> tuple[datetime, str]:
    try:
        if _DAY.fullmatch(value):
            return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC), "day"
        if _SECOND.fullmatch(value):
            return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC), "second"
    except ValueError:
        pass
    raise OAIError("badArgument", f"{name}={value!r} is not a date (YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ)")


def _date_range(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """``from`` and ``until`` as a half-open range [start, end); ``until`` is inclusive."""
    start: datetime | None = None
    end: datetime | None = None
    if since is not None:
        start, since_granularity = _parse_date(since, "from")
    if until is not None:
        until_at, until_granularity = _parse_date(until, "until")
        try:
            end = until_at + (timedelta(days=1) if until_granularity == "day" else timedelta(seconds=1))
        except OverflowError:  # until the end of 9999: no upper bound
            end = None
        if start is not None:
            if since_granularity != until_granularity:
                raise OAIError("badArgument", "from and until must have the same granularity")
            if start > until_at:
                raise OAIError("badArgument", "from is later than until")
    return start, end


def _encode_token(state: _ListState) -> str:
    blob = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(blob).decode().rstrip("=")


def _decode_token(token: str, verb: str) -> _ListState:
    """The list state a token carries, every part checked: a forged token is badResumptionToken, never a crash."""
    try:
        if len(token) > _MAX_TOKEN:
            raise ValueError("token too long")
        state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(state, dict) or set(state) != set(_ListState.__annotations__):
            raise ValueError("not a list state")
        if state["verb"] != verb:
            raise ValueError("token of another verb")
        spec = state["set"]
        if spec is not None and (not isinstance(spec, str) or _REFUSED.search(spec) or len(spec) > _MAX_TOKEN):
            raise ValueError("bad set")
        after = state["after"]
        if after is not None:
            if not isinstance(after, list) or len(after) != 2 or not _row_id(after[1]):
                raise ValueError("bad position")
            after = [_token_time(after[0]), after[1]]
        if not _row_id(state["cursor"]):
            raise ValueError("bad cursor")
        return {
            "verb": verb,
            "set": spec,
            "since": None if state["since"] is None else _token_time(state["since"]),
            "before": _token_time(state["before"]),
            "after": after,
            "cursor": state["cursor"],
        }
    except (ValueError, TypeError, OverflowError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise OAIError("badResumptionToken", "this resumptionToken is not valid here") from exc


def _row_id(value: object) -> bool:
    """A row id or a cursor as the catalog can take it (JSON true is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_ROW_ID


def _token_time(value: object) -> str:
    """A moment in a token, in UTC (the tokens we issue carry their offset)."""
    if not isinstance(value, str):
        raise TypeError("not a date")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("a date without its offset")
    return moment.astimezone(UTC).isoformat()


def _datestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(root: etree._Element, error: OAIError) -> None:
    element = etree.SubElement(root, f"{{{OAI}}}error", code=error.code)
    element.text = error.message


def _serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
