"""Loading many files from disk at once (`companin ingest`)."""

from __future__ import annotations

import os
from collections.abc import Iterable

from ..enums import FILE_EXTENSIONS
from ..errors import CompaninError
from ..identity import Principal
from ..models import KnowledgeSource
from .ingestion import Ingestion
from .knowledge import store_file


def files_under(paths: Iterable[str]) -> list[str]:
    """The readable files among `paths` and inside the folders among them, sorted."""
    found = []
    for path in paths:
        if os.path.isdir(path):
            for folder, _, names in os.walk(path):
                found += [os.path.join(folder, n) for n in names if _wanted(n)]
        elif os.path.isfile(path):
            found.append(path)
    return sorted(found)


def _wanted(name: str) -> bool:
    extension = os.path.splitext(name)[1].lower().removeprefix(".")
    return not name.startswith(".") and extension in FILE_EXTENSIONS


def ingest_file(principal: Principal, path: str, ingestion: Ingestion) -> KnowledgeSource:
    """Store and index one file now, in this thread; a file we cannot use comes back failed."""
    with open(path, "rb") as handle:
        data = handle.read()
    name = os.path.basename(path)
    try:
        source = store_file(principal, {"title": name}, name, data, ingestion.hold)
    except CompaninError as error:
        return KnowledgeSource(status="failed", error=str(error.description), title=name)
    ingestion.run(source.id)
    return KnowledgeSource.get_by_id(source.id)
