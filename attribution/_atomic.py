"""Atomic output directories: build beside the target, then swap in with renames."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .exceptions import OutputPathError

#: Files whose presence marks a directory as written by touchline.
MARKER_FILES = ("manifest.json", "run.json", "report.json")


def check_output_dir(target: str | os.PathLike) -> Path:
    """Check that ``target`` is a new path or a directory touchline wrote before.

    Raises
    ------
    OutputPathError
        When ``target`` is a file, or a directory holding none of touchline's marker
        files (touchline never replaces a directory it did not write).
    """
    path = Path(target)
    if path.exists():
        if not path.is_dir():
            raise OutputPathError(
                f"{path}: exists and is not a directory; choose a new --out path"
            )
        if not any((path / m).is_file() for m in MARKER_FILES) and any(path.iterdir()):
            raise OutputPathError(
                f"{path}: is a directory touchline did not write (no manifest.json or "
                "run.json in it); choose a new --out path"
            )
    return path


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``target`` when the block succeeds.

    The temporary directory is created beside ``target`` (same filesystem, so the
    final renames are atomic). When the block raises, the temporary directory is
    removed and ``target`` is left exactly as it was.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "store"
    >>> with atomic_directory(out) as tmp:
    ...     _ = (tmp / "run.json").write_text("{}")
    >>> sorted(p.name for p in out.iterdir())
    ['run.json']
    """
    path = check_output_dir(target).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if path.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
        old.rmdir()
        os.replace(path, old)
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
