"""The official XML schemas, shipped in ``archive/schemas/`` and loaded offline.

The schema files are kept byte for byte as published (see
``schemas/README.md``); their ``xsd:import`` locations still name the
standards' web addresses, and a resolver answers each of those from the
local copy, so nothing is ever fetched (the parser also has network access
turned off: an unknown address fails instead of going on-line).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from lxml import etree

from digitize.errors import OutputError

if TYPE_CHECKING:
    from lxml.etree._docloader import _InputDocument  # a type of the stubs only

# What can be validated: a path, the bytes of a document, a parsed element or tree.
# (A string: lxml's classes cannot be subscripted at run time.)
Document: TypeAlias = "str | Path | bytes | etree._Element | etree._ElementTree[etree._Element]"

__all__ = ["SCHEMA_DIR", "SCHEMAS", "schema", "validate", "validation_errors"]

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"

# name -> (file, namespace)
SCHEMAS = {
    "alto": ("alto-4-2.xsd", "http://www.loc.gov/standards/alto/ns-v4#"),
    "mets": ("mets-1-12-1.xsd", "http://www.loc.gov/METS/"),
    "mods": ("mods-3-6.xsd", "http://www.loc.gov/mods/v3"),
    "premis": ("premis-v3-0.xsd", "http://www.loc.gov/premis/v3"),
    "oai_dc": ("oai_dc.xsd", "http://www.openarchives.org/OAI/2.0/oai_dc/"),
    "xlink": ("xlink.xsd", "http://www.w3.org/1999/xlink"),
}

# Import locations used inside the shipped schemas -> local file.
_LOCAL = {
    "http://www.loc.gov/standards/xlink/xlink.xsd": "xlink.xsd",
    "http://www.loc.gov/mods/xml.xsd": "xml.xsd",
    "http://www.w3.org/2001/xml.xsd": "xml.xsd",
    "http://www.w3.org/2001/03/xml.xsd": "xml.xsd",
    "http://www.w3.org/XML/1998/namespace": "xml.xsd",
    "http://dublincore.org/schemas/xmls/simpledc20021212.xsd": "simpledc20021212.xsd",
    "http://www.loc.gov/standards/mods/v3/mods-3-6.xsd": "mods-3-6.xsd",
    "http://www.loc.gov/standards/premis/v3/premis.xsd": "premis-v3-0.xsd",
    "http://www.loc.gov/standards/alto/v4/alto-4-2.xsd": "alto-4-2.xsd",
}


class _LocalResolver(etree.Resolver):
    def resolve(  # lxml's API
        self, system_url: str | None, public_id: str | None, context: object
    ) -> _InputDocument | None:
        name = _LOCAL.get(system_url or "") or _LOCAL.get(public_id or "")
        if name is None and system_url and not system_url.startswith(("http:", "https:")):
            return None  # a relative or file path: lxml reads it from disk
        if name is None:
            raise OutputError(f"schema import {system_url} has no local copy in {SCHEMA_DIR}")
        return self.resolve_filename(str(SCHEMA_DIR / name), context)


def _parser() -> etree.XMLParser:
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    parser.resolvers.add(_LocalResolver())
    return parser


@functools.cache
def _schema_from_text(text: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.fromstring(text.encode(), _parser(), base_url=str(SCHEMA_DIR) + "/"))


@functools.cache
def schema(*names: str) -> etree.XMLSchema:
    """The schema for one standard, or several combined (for METS with MODS,
    PREMIS and ALTO inside: METS wraps them with ``processContents="lax"``,
    so their own declarations are checked once they are known)."""
    for name in names:
        if name not in SCHEMAS:
            raise KeyError(f"unknown schema {name!r}; known: {', '.join(SCHEMAS)}")
    if len(names) == 1:
        path = SCHEMA_DIR / SCHEMAS[names[0]][0]
        return etree.XMLSchema(etree.parse(str(path), _parser()))
    # A driver that only imports the official schemas (no declarations of its own).
    imports = "".join(
        f'<xs:import namespace="{SCHEMAS[n][1]}" schemaLocation="{SCHEMAS[n][0]}"/>' for n in names
    )
    return _schema_from_text(f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">{imports}</xs:schema>')


def validation_errors(document: Document, *names: str) -> list[str]:
    """Schema errors of a document (path, bytes or element); empty when valid."""
    tree: etree._Element | etree._ElementTree[etree._Element]
    if isinstance(document, (str, Path)):
        tree = etree.parse(str(document), etree.XMLParser(no_network=True, resolve_entities=False, huge_tree=True))
    elif isinstance(document, bytes):
        tree = etree.ElementTree(etree.fromstring(document, etree.XMLParser(no_network=True, resolve_entities=False)))
    else:
        tree = document
    checker = schema(*names)
    if checker.validate(tree):
        return []
    return [f"line {e.line}: {e.message}" for e in checker.error_log]


def validate(document: Document, *names: str) -> None:
    """Raise OutputError naming the first problems if the document is not valid."""
    errors = validation_errors(document, *names)
    if errors:
        raise OutputError(f"not valid against {'+'.join(names)}: " + "; ".join(errors[:5]))
