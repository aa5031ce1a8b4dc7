"""The services' log writer: batched off the event loop, nothing lost at exit."""
from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import logging, sys, time
from zuul.lib.service import setup_logging
setup_logging("INFO")
log = logging.getLogger("zuul.test")
for i in range(500):
    log.info("event %d of the burst", i)
time.sleep(0.2)  # the writer has flushed the burst by now
log.warning("written at exit")
log.debug("below the level")
sys.exit(3)
"""


def test_every_record_written_in_order_and_at_exit() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 3
    lines = done.stderr.splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == \
        [f"event {i} of the burst" for i in range(500)] + ["written at exit"]
    assert all(" zuul.test: " in line for line in lines)
    assert lines[0].split()[2] == "INFO" and lines[-1].split()[2] == "WARNING"
