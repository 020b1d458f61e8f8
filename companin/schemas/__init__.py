"""Marshmallow schemas: what each route accepts and returns."""
