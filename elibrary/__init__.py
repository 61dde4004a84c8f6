"""The e-library web service: browse and search, item pages, a JSON API and OAI-PMH.

``create_app(settings)`` builds the FastAPI application over the catalog
(``storage.catalog``) and the object store (``storage.factory``);
``digitize serve`` runs it with uvicorn on 127.0.0.1.
"""

from digitize.elibrary.app import create_app

__all__ = ["create_app"]
