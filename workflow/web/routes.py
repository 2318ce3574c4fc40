"""Where the routers are gathered: each module of the API and of the pages adds its own."""

from __future__ import annotations

from fastapi import FastAPI


def install(api: FastAPI) -> None:
    """Add every router to the application."""
    from . import api_measures

    api.include_router(api_measures.router)
