"""Who is reading: the client's address, the reading room, staff; and the one check every file route makes.

Metadata (search results, the item page's description, OAI-PMH records) is
shown to everyone; an item's files, page images and texts only to a viewer
``CatalogItem.readable_by`` lets through (published; embargo passed; public,
or reading-room from ``web.reading_room_networks``, or staff).

The client address is the connection's. ``X-Forwarded-For`` is believed only
when the connection comes from one of ``web.trusted_proxies``: anyone can
send the header, and a reader at home must not be able to claim a reading
room address. Behind trusted proxies the client is the right-most address
in the header that is not itself a trusted proxy.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from digitize.elibrary.auth import StaffDep
from digitize.elibrary.deps import SettingsDep, available_item
from digitize.elibrary.i18n import Translatable
from digitize.settings import WebSettings
from digitize.storage.catalog import Catalog, CatalogItem
from digitize.storage.catalog_records import Refusal, Viewer

__all__ = ["ViewerDep", "client_address", "get_viewer", "in_networks", "readable_item", "refusal_text"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(cidrs: list[str]) -> list[_Network]:
    return [ipaddress.ip_network(cidr, strict=False) for cidr in cidrs]


def in_networks(address: str | None, cidrs: list[str]) -> bool:
    """Is ``address`` (an IP address as text) inside one of ``cidrs``? False for anything that is not an address."""
    if not address or not cidrs:
        return False
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in _networks(cidrs))


def client_address(request: Request, web: WebSettings) -> str | None:
    """The reader's address: the connection's, or the forwarded one when the connection is a trusted proxy."""
    address = request.client.host if request.client else None
    if not web.trusted_proxies or not in_networks(address, web.trusted_proxies):
        return address
    forwarded = [part.strip() for header in request.headers.getlist("x-forwarded-for") for part in header.split(",")]
    for hop in reversed([part for part in forwarded if part]):
        if not in_networks(hop, web.trusted_proxies):
            return hop
    return address


def get_viewer(request: Request, settings: SettingsDep, staff: StaffDep) -> Viewer:
    """The request's viewer: address, whether it is in the reading room, whether staff are signed in."""
    address = client_address(request, settings.web)
    return Viewer(
        ip=address,
        is_staff=staff is not None,
        in_reading_room=in_networks(address, settings.web.reading_room_networks),
    )


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


def readable_item(catalog: Catalog, identifier: str, viewer: Viewer) -> CatalogItem:
    """The item if ``viewer`` may read its files and texts; 404/410 as ``available_item``, else 403 with the reason."""
    item = available_item(catalog, identifier)
    refusal = item.refusal_reason(viewer)
    if refusal is not None:
        raise HTTPException(403, refusal_text(refusal))
    return item


def refusal_text(refusal: Refusal) -> Translatable:
    """The refusal in words a page translates (the English is ``str(refusal)``'s, for the JSON answers)."""
    item = repr(refusal.identifier)
    if refusal.reason == "unpublished":
        return Translatable("item %(item)s is not published", item=item)
    if refusal.reason == "embargo" and refusal.until is not None:
        return Translatable("item %(item)s is under embargo until %(date)s: only its description is shown until then",
                            item=item, date=refusal.until.isoformat())
    if refusal.reason == "staff":
        return Translatable("item %(item)s may be read by library staff only: sign in as staff", item=item)
    if refusal.reason == "reading-room":
        return Translatable("item %(item)s may be read in the library's reading room only (from its computers)",
                            item=item)
    return Translatable("item %(item)s has an unknown access level %(access)s: refused to be safe",
                        item=item, access=repr(refusal.access))
