"""The team's console: server-rendered pages for the organization's people, at /console/.

So far, signing in and out; later pages guard themselves with `console_requires`. The
console signs people in with its own cookie (see `cookies.py`), never with API keys,
and its errors are pages, not the API's JSON envelope (see `pages.py`).
"""

from . import pages, views
from .blueprint import blp
from .guard import console_requires

__all__ = ["blp", "console_requires", "pages", "views"]
