"""CLI commands of the web side: serving, and people's sign-in secrets."""

from __future__ import annotations

from typing import Annotated

import typer

from .cli import DbOpt, _open, app, out

token_app = typer.Typer(help="API tokens for the HTTP API.", no_args_is_help=True)
password_app = typer.Typer(help="Passwords for the web pages.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(password_app, name="password")


@token_app.command("create")
def token_create(
    person: Annotated[str, typer.Argument(help="The person (their id from the plan).", show_default=False)],
    label: Annotated[str, typer.Option(help="What the token is for.")] = "",
    db: DbOpt = None,
) -> None:
    """Make an API token for PERSON; it is printed once and stored only as a hash."""
    from .auth import create_token

    token = create_token(_open(db), person, label)
    out.print(token, highlight=False)


@password_app.command("set")
def password_set(
    person: Annotated[str, typer.Argument(help="The person (their id from the plan).", show_default=False)],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                          help="The new password (asked for when not given).")],
    db: DbOpt = None,
) -> None:
    """Set PERSON's password for signing in to the web pages."""
    from .auth import set_password

    set_password(_open(db), person, password)
    out.print(f"Password set for {person}.")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    scheduler: Annotated[bool, typer.Option("--scheduler/--no-scheduler",
                                            help="Also run the scheduled sweeps in this process.")] = True,
    db: DbOpt = None,
) -> None:
    """Serve the HTTP API (/docs) and the web pages; with the scheduler unless --no-scheduler."""
    import uvicorn

    from .settings import Settings
    from .web.server import create_app

    a = _open(db)
    settings = Settings()
    web = create_app(a, session_secret=settings.session_secret)
    ticking = None
    if scheduler:
        import threading

        from jobs.scheduler import Scheduler, configure_logging, sweeps

        configure_logging()
        ticking = Scheduler(sweeps(a, settings))
        threading.Thread(target=ticking.run, kwargs={"handle_signals": False}, name="scheduler",
                         daemon=True).start()
    out.print(f"rectify on http://{host}:{port}/ (API docs at /docs); Ctrl-C stops it.")
    try:
        uvicorn.run(web, host=host, port=port, log_level="info")
    finally:
        if ticking is not None:
            ticking.stop()
