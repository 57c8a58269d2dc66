"""Connectors: read marketing exports and write them as a journey store (DESIGN §2).

Each source is a reader function registered in :data:`SOURCES`; :func:`ingest`
merges any number of inputs into one store.
"""

from .ingest import SOURCES, ingest
from .paths import PathsResult, read_paths

__all__ = ["SOURCES", "PathsResult", "ingest", "read_paths"]
