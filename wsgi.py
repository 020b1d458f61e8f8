"""WSGI entry point for any WSGI server: `waitress-serve --call wsgi:create_app` or `wsgi:app`."""

from companin import create_app

app = create_app()
