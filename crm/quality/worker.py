"""The quality gate's suites in a process of their own, started before they are needed.

Importing Great Expectations takes 2-3 s of Python. Done in the refresh's own
process, even in a background thread, it holds the GIL that dbt and Dagster
(which run there too, orchestration/dbt_runner.py) are waiting for, so it
lengthened the dbt stage by about as much. `crm refresh` instead starts this
worker when it takes the refresh lock: a second interpreter imports GX on the
machine's other core while Dagster starts and dbt builds, then waits on its
stdin. The quality gate hands it one request (the arguments of
`crm.quality.suites.run_suites`) and reads the outcomes back; a worker serves
one request and exits.

Without a waiting worker (a run launched from the Dagster UI, whose executor
runs each step in its own process, or a worker that died), the gate validates
in its own process: the same function, the same results.
"""

from __future__ import annotations

import atexit
import os
import pickle
import subprocess
import sys
import threading
import traceback
from pathlib import Path

from crm.quality import suites as suites_module

_ROOT = Path(__file__).resolve().parents[2]
_lock = threading.Lock()
_waiting: subprocess.Popen | None = None


def start() -> None:
    """Start a worker unless one is waiting in this process already."""
    global _waiting
    with _lock:
        if _waiting is not None and _waiting.poll() is None:
            return
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH")) if p)
        _waiting = subprocess.Popen(
            [sys.executable, "-m", "crm.quality.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=_ROOT,
        )


def stop() -> None:
    """Stop a worker nobody asked anything (the refresh ended before its gate)."""
    global _waiting
    with _lock:
        worker, _waiting = _waiting, None
    if worker is not None and worker.poll() is None:
        worker.kill()
        worker.wait()


atexit.register(stop)


def _take() -> subprocess.Popen | None:
    global _waiting
    with _lock:
        worker, _waiting = _waiting, None
    if worker is None or worker.poll() is not None:
        return None
    return worker


def run_suites(build: Path, suites: list, **options) -> list:
    """`crm.quality.suites.run_suites` in the waiting worker, or here without one."""
    worker = _take()
    if worker is None:
        return suites_module.run_suites(build, suites, **options)
    try:
        pickle.dump((build, suites, options), worker.stdin)
        worker.stdin.close()
        status, payload = pickle.load(worker.stdout)
    except (OSError, EOFError, pickle.UnpicklingError):
        # the worker died (killed, out of memory): validating here costs time, not results
        worker.kill()
        worker.wait()
        return suites_module.run_suites(build, suites, **options)
    finally:
        worker.stdout.close()
    worker.wait()
    if status == "error":
        raise payload
    return payload


def _serve() -> int:
    # the answer goes to the original stdout; anything printed goes to stderr
    answer = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    suites_module._quiet_gx()

    import great_expectations  # noqa: F401  (the point: imported before it is asked)

    try:
        build, suites, options = pickle.load(sys.stdin.buffer)
    except EOFError:
        return 0  # nothing asked: the refresh ended before its quality gate
    try:
        reply = ("ok", suites_module.run_suites(build, suites, **options))
    except Exception as exc:
        exc.add_note("in the quality worker:\n" + traceback.format_exc())
        reply = ("error", exc)
    try:
        data = pickle.dumps(reply)
        pickle.loads(data)  # an exception that cannot travel back is sent as text
    except Exception:
        text = "".join(getattr(reply[1], "__notes__", [])) or traceback.format_exc()
        data = pickle.dumps(("error", RuntimeError(f"{reply[1]!r}\n{text}")))
    answer.write(data)
    answer.close()
    return 0


if __name__ == "__main__":
    code = _serve()
    sys.stderr.flush()
    os._exit(code)  # tearing down GX's and pandas' modules takes about a second
