"""Stage timing and progress lines shared by the CLI, Dagster ops and the benchmark.

Ops run in-process under `crm refresh`, so a listener registered here (the
benchmark's memory sampler) sees each stage start and end.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator

Listener = Callable[[str, str, float, dict], None]  # ('start'|'end', stage, monotonic time, facts)
_listeners: list[Listener] = []
_t0 = time.monotonic()


def add_listener(listener: Listener) -> None:
    _listeners.append(listener)


def remove_listener(listener: Listener) -> None:
    with contextlib.suppress(ValueError):
        _listeners.remove(listener)


def say(message: str, log: Callable[[str], None] | None = None) -> None:
    """A progress line: to the Dagster log when there is one, to stderr under the CLI."""
    if log is not None:
        log(message)
    if os.environ.get("CRM_PROGRESS") == "1":
        print(f"[{time.monotonic() - _t0:7.1f}s] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def stage(name: str, log: Callable[[str], None] | None = None) -> Iterator[dict]:
    """Time a stage; the yielded dict receives the duration when the stage ends."""
    facts: dict = {"stage": name}
    start = time.monotonic()
    for listener in list(_listeners):
        listener("start", name, start, facts)
    say(f"{name}: started", log)
    try:
        yield facts
    finally:
        end = time.monotonic()
        facts["seconds"] = round(end - start, 3)
        for listener in list(_listeners):
            listener("end", name, end, facts)
        say(f"{name}: finished in {facts['seconds']:.1f}s", log)
