"""The console's blueprint, on its own so that the modules adding to it import only this.

Its `static` folder holds the pages' few scripts and styles, served at /console/static/.
"""

from flask import Blueprint

from ..auth import CONSOLE_PREFIX

blp = Blueprint("console", __name__, url_prefix=CONSOLE_PREFIX, static_folder="static")
