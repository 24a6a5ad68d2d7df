"""The shipped unit runs the daemon as its own unprivileged user, and the operator gives it
the compose directory through a group (docs/install.md). Replacing a file it does not own
must still succeed: it cannot hand the file back to root, so the group and mode stay and
the owner becomes the writer. (The production drill found this: the rollback was refused
with EPERM under the unit.)"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

NOBODY = 65534
WRITE = """
import sys
from pathlib import Path
from watchdog.common.atomicfile import replace_keeping
target = Path(sys.argv[1])
replace_keeping(target, "image: good\\n", target.with_name(target.name + ".before"))
"""


def test_an_unprivileged_writer_replaces_a_root_owned_group_writable_file() -> None:
    # pytest's tmp_path lies in a 0700 folder of root's that `nobody` cannot traverse.
    with tempfile.TemporaryDirectory(prefix="rw-atomic-") as top:
        os.chmod(top, 0o755)
        replace_as_nobody(Path(top) / "backend")


def replace_as_nobody(folder: Path) -> None:
    folder.mkdir()
    target = folder / "docker-compose.yml"
    target.write_text("image: bad\n")
    os.chown(folder, 0, NOBODY)
    os.chmod(folder, 0o775)
    os.chown(target, 0, NOBODY)
    os.chmod(target, 0o664)
    done = subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
         sys.executable, "-c", WRITE, str(target)],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert done.returncode == 0, done.stderr
    after = target.stat()
    assert target.read_text() == "image: good\n"
    assert (after.st_uid, after.st_gid, after.st_mode & 0o7777) == (NOBODY, NOBODY, 0o664)
    assert (folder / "docker-compose.yml.before").read_text() == "image: bad\n"
