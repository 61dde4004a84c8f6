"""PREMIS 3 provenance: the masters as objects, what was done as events, who did it as agents.

Each builder returns one small element, so the METS writer can stream a
book's events one at a time. Event types follow the Library of Congress
event-type vocabulary where it has a term (message digest calculation,
fixity check, creation, modification for OCR post-correction); the page
steps without one (deskewing, optical character recognition,
transliteration) carry plain names and say in eventDetail what was done,
with which settings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lxml import etree

__all__ = ["PREMIS_NS", "PREMIS_VERSION", "Agent", "Event", "agent_element", "event_element", "file_object_element"]

PREMIS_NS = "http://www.loc.gov/premis/v3"
PREMIS_VERSION = "3.0"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_EVENT_TYPES = "http://id.loc.gov/vocabulary/preservation/eventType"
_NSMAP = {"premis": PREMIS_NS, "xsi": _XSI}


@dataclass(frozen=True)
class Agent:
    identifier: str
    name: str
    type: str  # software | organization | person
    version: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Event:
    identifier: str
    type: str
    date: str  # ISO 8601
    detail: str
    outcome: str = "success"
    outcome_note: str | None = None
    agents: tuple[tuple[str, str], ...] = ()  # (agent identifier, role)
    objects: tuple[tuple[str, str], ...] = ()  # (object identifier, role: source | outcome)


_LOC_TERMS = {
    "message digest calculation", "fixity check", "creation", "ingestion", "validation", "capture", "modification",
}


def _p(parent: etree._Element | None, tag: str, text: object = None, **attrs: str) -> etree._Element:
    el: etree._Element
    if parent is None:
        el = etree.Element(f"{{{PREMIS_NS}}}{tag}", {k: v for k, v in attrs.items() if v}, nsmap=_NSMAP)
    else:
        el = etree.SubElement(parent, f"{{{PREMIS_NS}}}{tag}", {k: v for k, v in attrs.items() if v})
    if text is not None:
        el.text = str(text)
    return el


def file_object_element(
    identifier: str,
    sha256: str,
    size: int,
    mime: str,
    original_name: str,
    digest_originator: str,
    events: Iterable[str] = (),
) -> etree._Element:
    """A file object (a master) with its fixity as recorded at intake."""
    obj = _p(None, "object", **{f"{{{_XSI}}}type": "premis:file"})
    ident = _p(obj, "objectIdentifier")
    _p(ident, "objectIdentifierType", "local")
    _p(ident, "objectIdentifierValue", identifier)
    chars = _p(obj, "objectCharacteristics")
    _p(chars, "compositionLevel", "0")
    fixity = _p(chars, "fixity")
    _p(fixity, "messageDigestAlgorithm", "SHA-256",
       authority="cryptographicHashFunctions",
       authorityURI="http://id.loc.gov/vocabulary/preservation/cryptographicHashFunctions")
    _p(fixity, "messageDigest", sha256)
    _p(fixity, "messageDigestOriginator", digest_originator)
    _p(chars, "size", size)
    fmt = _p(chars, "format")
    designation = _p(fmt, "formatDesignation")
    _p(designation, "formatName", mime)
    _p(obj, "originalName", original_name)
    for event_id in events:
        link = _p(obj, "linkingEventIdentifier")
        _p(link, "linkingEventIdentifierType", "local")
        _p(link, "linkingEventIdentifierValue", event_id)
    return obj


def event_element(event: Event) -> etree._Element:
    el = _p(None, "event")
    ident = _p(el, "eventIdentifier")
    _p(ident, "eventIdentifierType", "local")
    _p(ident, "eventIdentifierValue", event.identifier)
    if event.type in _LOC_TERMS:
        _p(el, "eventType", event.type, authority="eventType", authorityURI=_EVENT_TYPES)
    else:
        _p(el, "eventType", event.type)
    _p(el, "eventDateTime", event.date)
    detail = _p(el, "eventDetailInformation")
    _p(detail, "eventDetail", event.detail)
    outcome = _p(el, "eventOutcomeInformation")
    _p(outcome, "eventOutcome", event.outcome)
    if event.outcome_note:
        outcome_detail = _p(outcome, "eventOutcomeDetail")
        _p(outcome_detail, "eventOutcomeDetailNote", event.outcome_note)
    for agent_id, role in event.agents:
        link = _p(el, "linkingAgentIdentifier")
        _p(link, "linkingAgentIdentifierType", "local")
        _p(link, "linkingAgentIdentifierValue", agent_id)
        _p(link, "linkingAgentRole", role)
    for object_id, role in event.objects:
        link = _p(el, "linkingObjectIdentifier")
        _p(link, "linkingObjectIdentifierType", "local")
        _p(link, "linkingObjectIdentifierValue", object_id)
        _p(link, "linkingObjectRole", role)
    return el


def agent_element(agent: Agent) -> etree._Element:
    el = _p(None, "agent")
    ident = _p(el, "agentIdentifier")
    _p(ident, "agentIdentifierType", "local")
    _p(ident, "agentIdentifierValue", agent.identifier)
    _p(el, "agentName", agent.name)
    _p(el, "agentType", agent.type)
    if agent.version:
        _p(el, "agentVersion", agent.version)
    if agent.note:
        _p(el, "agentNote", agent.note)
    return el
