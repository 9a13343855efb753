"""Named fault points: where the fault tests kill a refresh on purpose.

``CRM_FAULT_KILL_AT=<point>`` makes the process kill itself with SIGKILL (no
cleanup, no exception handlers, like a power cut or the OOM killer) the first
time it reaches that point. Unset, a point costs one dictionary lookup. The
points sit where a crash is most dangerous: inside the raw store's
transaction, between files, and at each step of publication.
"""

from __future__ import annotations

import os
import signal

POINTS = (
    "load:before_ledger",  # a file's rows are written, its ledger row not (one transaction)
    "load:after_file",  # a file is committed, the next not started
    "build:state_copied",  # an incremental build's copy of the restricted output is made
    "publish:finalized",  # the build is checkpointed, nothing replaced yet
    "publish:analytics_written",  # the analytics copy is written, nothing replaced yet
    "publish:restricted_replaced",  # the new restricted output is in place, analytics not
    "publish:before_replace",  # the old generation is linked as a snapshot
    "publish:replaced",  # the new analytics file is in place
)


def fault_point(name: str) -> None:
    if os.environ.get("CRM_FAULT_KILL_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
