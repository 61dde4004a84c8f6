"""The OAI-PMH endpoint, for harvesters: GET or POST ``/oai``; the protocol itself is in ``oai.py``."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import Response

from digitize.elibrary import oai
from digitize.elibrary.deps import BaseUrlDep, CatalogDep, SettingsDep

__all__ = ["router"]

router = APIRouter()


@router.get("/oai", operation_id="oai_get")
async def oai_get(request: Request, settings: SettingsDep, catalog: CatalogDep, root: BaseUrlDep) -> Response:
    return _answer(list(request.query_params.multi_items()), settings, catalog, root)


@router.post("/oai", operation_id="oai_post")
async def oai_post(request: Request, settings: SettingsDep, catalog: CatalogDep, root: BaseUrlDep) -> Response:
    body = (await request.body()).decode("utf-8", errors="replace")
    return _answer(parse_qsl(body, keep_blank_values=True), settings, catalog, root)


def _answer(params: list[tuple[str, str]], settings: SettingsDep, catalog: CatalogDep, root: str) -> Response:
    xml = oai.respond(params, catalog, settings.web, root + "/oai", root)
    return Response(xml, media_type="text/xml; charset=utf-8")
