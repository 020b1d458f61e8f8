"""WSGI entry point for any WSGI server: `waitress-serve --call wsgi:create_app` or `wsgi:app`."""

from companin import create_app

app = create_app()
# Sources a stopped process left half-indexed are indexed again by this one.
app.extensions["companin"].ingestion.recover()
