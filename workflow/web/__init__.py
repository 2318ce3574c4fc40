"""The HTTP side: the REST API (FastAPI) and the server-rendered web pages, in one ASGI app."""
