"""The closed sets of values Companin stores and accepts, each written down once.

Schemas validate and document with these, and the code that acts on a value (the
parsers, the index, ingestion) reads the same names, so the API and the work behind it
cannot disagree about what exists.
"""

from __future__ import annotations

# Knowledge files, as detected from their content (the order is the one documented).
FILE_TYPES = ("pdf", "txt", "md", "html", "docx")

# File name extensions (lower case, without the dot) and the file type each names:
# what `companin ingest` picks up from a folder, and what the parsers read a name as.
FILE_EXTENSIONS = {
    "pdf": "pdf",
    "txt": "txt",
    "md": "md",
    "markdown": "md",
    "html": "html",
    "htm": "html",
    "docx": "docx",
}

SOURCE_TYPES = ("file", "qa", "url")

# A source is `processing` until its chunks are in place, then finished one way or the other.
FINISHED_STATUSES = ("ready", "failed")
SOURCE_STATUSES = ("processing", *FINISHED_STATUSES)

# How a search ranks: by vectors and keywords together, or by one of them alone.
SEARCH_MODES = ("hybrid", "vector", "keyword")

# Who wrote a message: the customer, the assistant, or a person of the team.
MESSAGE_ROLES = ("user", "assistant", "agent")

FEEDBACK_RATINGS = ("up", "down")

# The people of a team, the most trusted first: each role may do all that the roles after
# it may (an owner runs the organization, an admin its assistants and knowledge, an agent
# answers customers).
USER_ROLES = ("owner", "admin", "agent")
