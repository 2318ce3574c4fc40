"""Where the routers are gathered: each module of the API and of the pages adds its own."""

from __future__ import annotations

from fastapi import FastAPI


def install(api: FastAPI) -> None:
    """Add every router to the application."""
    from . import api_commands, api_evidence, api_files, api_history, api_measures, api_schedule, api_tree, pages

    for module in (api_measures, api_commands, api_evidence, api_history, api_tree, api_schedule, api_files):
        api.include_router(module.router)
    pages.install(api)  # the web pages
