"""The HTTP API: ``create_app`` builds it, ``qa serve`` runs it under uvicorn."""

from qa.api.app import create_app

__all__ = ["create_app"]
