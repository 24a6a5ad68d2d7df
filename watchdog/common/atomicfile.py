"""Replace a file so that readers (and a crash) see the old content or the new, never half.

The new content goes to a temporary file in the same directory (a rename is atomic only
within one file system), is flushed and fsynced, takes the mode it should have, and is
renamed over the target; the directory is fsynced so the rename survives a power cut.
On any failure the temporary file is removed and the target is untouched.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def replace_atomically(path: Path, data: str | bytes, mode: int,
                       owner: tuple[int, int] | None = None) -> None:
    """Give `path` the content `data` (text as UTF-8) and `mode` (and `owner`, uid and gid,
    when given and not already the writer's), atomically."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(raw)
            out.flush()
            _own(out.fileno(), owner)
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_directory(path.parent)


def copy_atomically(source: Path, target: Path) -> None:
    """A complete copy of `source` at `target` (same mode), or none at all."""
    replace_atomically(target, source.read_bytes(), source.stat().st_mode & 0o777)


def replace_keeping(path: Path, data: str | bytes, backup: Path) -> None:
    """Replace an existing file's content, keeping its mode and owner (its group, when the
    writer may not give it back to its owner: `_own`), after copying it to
    `backup`. A write that cannot complete (read-only directory, full disk) raises OSError
    and leaves the directory as it was found: `path` unchanged, no backup, no temporary."""
    before = path.stat()
    copy_atomically(path, backup)
    try:
        replace_atomically(path, data, before.st_mode & 0o7777, (before.st_uid, before.st_gid))
    except BaseException:
        backup.unlink(missing_ok=True)
        raise


def _own(fd: int, owner: tuple[int, int] | None) -> None:
    """Keep the replaced file's owner where the writer may. The service runs unprivileged
    (the shipped unit), so it cannot give a file back to root: the file then keeps its
    group (the writer is a member, or it could not have written it through the group
    bits) and its mode, and the writer becomes its owner. Failing the rollback for an
    owner nobody reads would make the incident worse."""
    stat = os.fstat(fd)
    if owner is None or owner == (stat.st_uid, stat.st_gid):
        return
    try:
        os.fchown(fd, *owner)
    except PermissionError:
        with contextlib.suppress(PermissionError):
            os.fchown(fd, -1, owner[1])


def _sync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems refuse to fsync a directory
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
