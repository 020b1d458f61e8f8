"""The `companin` command: set up an instance, manage organizations' keys and people, serve."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict

import click

from . import backup as backups
from . import create_app
from .config import SettingsError, upload_body_limit
from .enums import USER_ROLES
from .errors import CompaninError, NotFound
from .llm import provider
from .schema import CURRENT_VERSION
from .services import bulk, demo, organizations, people
from .state import state_of


@click.group()
def main() -> None:
    """Companin, a self-hosted customer-support assistant."""


def _app():
    """The app, or a one-line error (not a traceback) when a setting is wrong."""
    try:
        return create_app()
    except SettingsError as error:
        raise click.ClickException(str(error)) from None


def _print_credentials(credentials: organizations.Credentials, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(asdict(credentials)))
        return
    click.echo(f"organization_id: {credentials.organization_id}")
    click.echo(f"client_id:       {credentials.client_id}")
    click.echo(f"client_secret:   {credentials.client_secret}")
    click.echo("Keep the secret now: it is stored only as a hash and cannot be shown again.")


@main.command()
@click.option(
    "--demo", "with_demo", is_flag=True, help="Add a demo organization to try things with."
)
def init(with_demo: bool) -> None:
    """Create the instance folder and database (safe to run again)."""
    app = _app()
    click.echo(f"Instance ready in {app.instance_path}")
    if with_demo:
        with app.app_context():
            details = demo.ensure_demo(app.instance_path, state_of(app).ingestion)
        click.echo(
            f"Demo organization (credentials also in {demo.credentials_path(app.instance_path)}):"
        )
        for key, value in details.items():
            click.echo(f"  {key}: {value}")


@main.command()
def migrate() -> None:
    """Bring the database to this release's schema (`serve` does it too, at start)."""
    _app()  # creating the app migrates, under a lock: see schema.ensure_schema
    click.echo(f"Database schema at version {CURRENT_VERSION}")


@main.command("create-org")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def create_org(name: str, as_json: bool) -> None:
    """Create an organization and print its first server key."""
    app = _app()
    with app.app_context():
        _print_credentials(organizations.create_organization(name), as_json)


@main.command("rotate-secret")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def rotate_secret(client_id: str, as_json: bool) -> None:
    """Give a server key a new secret; the old one stops working."""
    app = _app()
    with app.app_context():
        try:
            _print_credentials(organizations.rotate_secret(client_id), as_json)
        except NotFound as error:
            raise click.ClickException(str(error.description)) from None


@main.command("create-user")
@click.argument("email")
@click.option("--org", "client_id", required=True, help="The organization's client id.")
@click.option("--role", required=True, type=click.Choice(USER_ROLES), help="What they may do.")
@click.option("--name", "display_name", help="The name the console shows (default: from EMAIL).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def create_user(
    email: str, client_id: str, role: str, display_name: str | None, as_json: bool
) -> None:
    """Give a person of an organization a console sign-in, and print their password once."""
    app = _app()
    with app.app_context():
        try:
            org_id = organizations.principal_for(client_id).org_id
            user, password = people.create_user(org_id, email, role, display_name)
        except CompaninError as error:
            raise click.ClickException(str(error.description)) from None
    if as_json:
        click.echo(json.dumps({"email": user.email, "password": password}))
        return
    click.echo(f"email:    {user.email}")
    click.echo(f"role:     {user.role}")
    click.echo(f"password: {password}")
    click.echo("Keep the password now: it is stored only as a hash and cannot be shown again.")


@main.command()
def reindex() -> None:
    """Embed all knowledge again with the configured embedding model."""
    app = _app()
    ingestion = state_of(app).ingestion
    with app.app_context():
        count = ingestion.reindex(on_source=lambda s: click.echo(f"  {s.title}"))
    click.echo(f"Re-indexed {count} source(s) with {ingestion.index.model}")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--org", "client_id", required=True, help="The organization's client id.")
def ingest(paths: tuple[str, ...], client_id: str) -> None:
    """Load files and folders (PDF, text, Markdown, HTML, DOCX) into an organization."""
    app = _app()
    ingestion = state_of(app).ingestion
    with app.app_context():
        try:
            principal = organizations.principal_for(client_id)
        except NotFound as error:
            raise click.ClickException(str(error.description)) from None
        files = bulk.files_under(paths)
        failed = 0
        with click.progressbar(files, label="Ingesting", item_show_func=_shown) as bar:
            for path in bar:
                source = bulk.ingest_file(principal, path, ingestion)
                if source.status != "ready":
                    failed += 1
                    click.echo(f"\n  {path}: {source.error}", err=True)
    click.echo(f"{len(files) - failed} of {len(files)} file(s) ready")
    if failed:
        raise SystemExit(1)


def _shown(path: str | None) -> str:
    return os.path.basename(path) if path else ""


# 64 customers streaming replies at once, and room beside them for everything else.
SERVE_THREADS = 96


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--threads",
    default=SERVE_THREADS,
    show_default=True,
    type=int,
    help="Requests served at once; a streamed reply holds one for as long as the model writes.",
)
def serve(host: str, port: int, threads: int) -> None:
    """Serve the API with waitress."""
    from waitress import create_server

    app = _app()
    ingestion = state_of(app).ingestion
    problem = ingestion.index.embedder_problem()
    if problem:
        # Served all the same: everything but knowledge and answers works, and /healthz says why.
        click.echo(f"Error: {problem}", err=True)
    logging.basicConfig(
        level=app.config["LOG_LEVEL"], format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    click.echo(f"Companin on http://{host}:{port}  (API docs: http://{host}:{port}/api/v1/docs)")
    server = create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        max_request_body_size=_waitress_body_cap(
            max(app.config["MAX_REQUEST_BYTES"], upload_body_limit(app.config))
        ),
        expose_tracebacks=False,
        ident="companin",
        clear_untrusted_proxy_headers=True,
    )
    # Listening now. What takes seconds is loaded beside the first requests, not before them:
    # the embedder (for the first search) and litellm (for the first customer's answer).
    # The ingestion worker serves every process's queue from now on.
    resumed = ingestion.start(warm_up=not problem)
    if resumed:
        click.echo(f"Resuming {resumed} knowledge source(s) a stopped process left unfinished")
    if app.config["LLM_MODEL"].strip():
        provider.import_in_background()
    server.run()


@main.command()
@click.argument("path", type=click.Path(file_okay=False))
def backup(path: str) -> None:
    """Copy the database and the knowledge's vectors, consistent with each other, into PATH
    (a new or empty folder). `companin serve` may go on: its writes wait for the copy.

    For the embedded default (SQLite and Chroma in the instance folder); with PostgreSQL
    or a Chroma server it stops and names their own tools.
    """
    try:
        made = backups.back_up(path)
    except backups.Refused as refused:
        click.echo(f"Error: {refused}", err=True)
        raise SystemExit(2) from None
    click.echo("\n".join(made.lines()))


@main.command()
@click.argument("path", type=click.Path(exists=True, file_okay=False))
def restore(path: str) -> None:
    """Replace the instance's data with the backup in PATH. Stop `companin serve` first.

    What is there is moved to instance/before-restore-<UTC time>/, never deleted. A backup
    of an older release is upgraded; then the knowledge's vectors are checked against the
    database, and those missing are embedded again from the stored chunks.
    """
    try:
        restored = backups.restore(path, _app)
    except backups.Refused as refused:
        click.echo(f"Error: {refused}", err=True)
        raise SystemExit(2) from None
    click.echo("\n".join(restored.lines()))
    if not restored.complete:
        raise SystemExit(1)


def _waitress_body_cap(limit: int) -> int:
    """Waitress's own cap, above the app's: a body over the app's limit then gets the
    JSON envelope from Flask, while waitress still stops absurd ones (with plain text)
    before spooling them to disk."""
    return 4 * limit + 1024 * 1024


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(__file__))
