"""A compose command that waits for the test before it runs (the kill -9 drill).

    blocking_compose.py GATE_DIR docker-compose -f FILE up -d SERVICE

Writes GATE_DIR/started, waits until GATE_DIR/release exists, then becomes the real
command (exec), so the watchdog can be killed while its rollback is mid-way. Its output
goes to GATE_DIR/compose.log, not to the watchdog's pipes: a killed watchdog's pipes would
kill the command with SIGPIPE, and the drill wants the run that outlives the watchdog.
"""

import os
import sys
import time
from pathlib import Path

gate, argv = Path(sys.argv[1]), sys.argv[2:]
(gate / "started").write_text(str(os.getpid()))
while not (gate / "release").exists():
    time.sleep(0.05)  # polling a file the test creates: this peer has nothing else to wait on
log = os.open(gate / "compose.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
os.dup2(log, 1)
os.dup2(log, 2)
os.execvp(argv[0], argv)
