"""The OAI-PMH endpoint, for harvesters: GET or POST ``/oai``; the protocol itself is in ``oai.py``."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import Response

from digitize.elibrary import oai
from digitize.elibrary.deps import BaseUrlDep, CatalogDep, SettingsDep

__all__ = ["router"]

router = APIRouter()


@router.api_route("/oai", methods=["GET", "POST"])
async def oai_endpoint(request: Request, settings: SettingsDep, catalog: CatalogDep, root: BaseUrlDep) -> Response:
    if request.method == "POST":
        body = (await request.body()).decode("utf-8", errors="replace")
        params = parse_qsl(body, keep_blank_values=True)
    else:
        params = list(request.query_params.multi_items())
    xml = oai.respond(params, catalog, settings.web, root + "/oai", root)
    return Response(xml, media_type="text/xml; charset=utf-8")
