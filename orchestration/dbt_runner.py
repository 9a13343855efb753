"""dbt in Dagster's own process (dbtRunner), with the parsed project kept between runs.

dagster-dbt's `DbtCliResource.cli` starts a dbt process per run. That process
imports dbt, reads the partial-parse state and serialises every event to a JSON
line that Dagster parses back: about 5 s before and around a 200-customer
build's 10 s of work, and about 9 s when a home's first refresh parses the
project in full. Here dbt runs in the calling process and the parsed manifest
is kept for the next run with the same project files, vars and profile
(DECISIONS 62). Dagster still receives the events dagster-dbt would have made
of dbt's results, through dagster-dbt's own translation of each result event.
"""

from __future__ import annotations

import copyreg
import hashlib
import json
import os
import pickle
import queue
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The files whose contents dbt parses (a change in any of them means a new parse).
PARSED_SOURCES = (
    "models",
    "macros",
    "seeds",
    "data-tests",
    "snapshots",
    "analyses",
    "dbt_project.yml",
    "profiles.yml",
    "packages.yml",
    "dependencies.yml",
    "dbt_packages",
)
# The options that reach dbt's parser (a different value means another parse).
SHAPING_OPTIONS = ("--vars", "--profile", "--target")
# The vars that differ per home or per day: the profile's files and limits, the
# as-of date, the previous publication, the build's plan, the identity model's
# folder. The project reads them only while models run, never while dbt parses
# (tests/test_dbt_runner.py checks), so they are left out of a parse's key: one
# parsed project serves every home and every day. A changed var otherwise means
# a new parse (~7 s), as it does for dbt itself.
RUN_VARS = frozenset(
    {
        "build_path",
        "raw_store",
        "threads",
        "memory_limit",
        "temp_directory",
        "access_mode",
        "as_of",
        "previous_restricted_output",
        "build_incremental",
        "identity_model_dir",
    }
)
# dbt's result events: the ones dagster-dbt turns into outputs and check results.
RESULT_EVENTS = frozenset({"LogSeedResult", "LogModelResult", "LogSnapshotResult", "LogTestResult"})

# One dbt invocation at a time per process: dbt keeps global state (flags,
# adapters, the event manager) that two concurrent invocations would share.
_LOCK = threading.Lock()
# The last parsed project: (key, dbt Manifest). One entry, so memory stays flat.
_PARSED: dict[str, Any] = {}
# Parsed projects kept on disk for other processes (new homes, tests, CI): one per
# set of vars (~2 MB each); the test suite alone uses about ten.
KEEP_PARSED = 16
# The way they are kept (a new one never reads an older one's files).
FORMAT = "fields-pickle-1"


class DbtRunError(Exception):
    """dbt failed: its error messages, as dagster-dbt would report them."""


def _project_key(project_dir: Path, profiles_dir: Path, args: Sequence[str]) -> str:
    """What a parse depends on: every parsed file's path, size and mtime, the
    dbt version, the arguments that reach the parser (vars, profile, target)
    without the run vars, and the database's name."""
    import dbt.version

    parse_vars, run_vars = _split_vars(args)
    args = [*_without_vars(args), "--vars", json.dumps(parse_vars, sort_keys=True)]
    # the profile names the database after the build file (always build.duckdb)
    build_path = run_vars.get("build_path") or os.environ.get("CRM_BUILD_PATH", "")
    database = Path(str(build_path)).stem
    parts = [FORMAT, dbt.version.__version__, str(project_dir), str(profiles_dir), database, *args]
    for name in PARSED_SOURCES:
        base = (profiles_dir if name == "profiles.yml" else project_dir) / name
        files = [base] if base.is_file() else sorted(base.rglob("*")) if base.is_dir() else []
        for file in files:
            if "__pycache__" in file.parts or not file.is_file():
                continue
            stat = file.stat()
            parts.append(f"{file}\0{stat.st_size}\0{stat.st_mtime_ns}")
    return json.dumps(parts)


def _without_vars(args: Sequence[str]) -> list[str]:
    """`args` without their --vars options."""
    kept, skip_next = [], False
    for arg in args:
        if skip_next:
            skip_next = False
        elif arg == "--vars":
            skip_next = True
        elif not arg.startswith("--vars="):
            kept.append(arg)
    return kept


def _vars(args: Sequence[str]) -> dict[str, Any]:
    """The --vars of `args` (the last one, as dbt takes it), parsed as dbt parses them."""
    import yaml

    found = None
    for index, arg in enumerate(args):
        if arg == "--vars" and index + 1 < len(args):
            found = args[index + 1]
        elif arg.startswith("--vars="):
            found = arg.split("=", 1)[1]
    value = yaml.safe_load(found) if found else None
    return dict(value) if isinstance(value, dict) else {}


def _split_vars(args: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(parse vars, run vars) of `args`' --vars."""
    values = _vars(args)
    return (
        {k: v for k, v in values.items() if k not in RUN_VARS},
        {k: v for k, v in values.items() if k in RUN_VARS},
    )


def _parse_args(args: Sequence[str]) -> list[str]:
    """The arguments of `args` that shape the parse (a cache key and `dbt parse`'s own)."""
    kept, take_next = [], False
    for arg in args:
        if take_next:
            kept.append(arg)
            take_next = False
        elif arg in SHAPING_OPTIONS:
            kept.append(arg)
            take_next = True
        elif arg.split("=", 1)[0] in SHAPING_OPTIONS:  # --vars={...}
            kept.append(arg)
    return kept


def _close_duckdb() -> None:
    """Release the build file: dbt-duckdb keeps its database open in a class
    attribute until the process exits, and the build file is renamed next."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # another adapter (Spark): nothing held in this process
        return
    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        DuckDBConnectionManager._ENV = None
        if env is not None:
            env.close()


def query_open_build(sql: str) -> list[dict[str, Any]] | None:
    """The rows of `sql` on the database dbt-duckdb holds open in this process (a
    build under way, which DuckDB would refuse to open again with other
    settings), through a handle of dbt-duckdb's own; None when it holds none
    (dbt has ended and released it: open the file itself then)."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # another adapter (Spark)
        return None
    # held throughout, so that the end of dbt (_close_duckdb) cannot close it meanwhile
    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        if env is None:
            return None
        handle = env.handle()
        try:
            cursor = handle.cursor()
            cursor.execute(sql)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        finally:
            handle.close()


def _parsed_dir(project_dir: Path) -> Path:
    """Where parsed projects are kept for other processes: the project's target folder
    (where dagster-dbt's manifest is), one pickle per key."""
    return project_dir / "target" / "parsed"


def _parse_env(manifest) -> dict[str, str | None]:
    """The environment variables the project read while it was parsed (None: unset)."""
    from dbt.constants import DEFAULT_ENV_PLACEHOLDER

    return {
        name: None if value == DEFAULT_ENV_PLACEHOLDER else value
        for name, value in manifest.env_vars.items()
    }


def _env_matches(env: Mapping[str, str | None]) -> bool:
    return all(os.environ.get(name) == value for name, value in env.items())


def _manifest_fields(manifest) -> dict[str, Any]:
    """A Manifest's public fields: its lookups and caches are rebuilt on demand."""
    import dataclasses

    return {
        f.name: getattr(manifest, f.name)
        for f in dataclasses.fields(manifest)
        if not f.name.startswith("_")
    }


def _rebuild_manifest(state: dict[str, Any]):
    from dbt.contracts.graph.manifest import Manifest

    return Manifest(**state)


def _dump_parsed(file, env: dict[str, str | None], manifest) -> None:
    """Pickle (env, manifest) by the Manifest's fields: dbt-core 1.11's own
    `Manifest.__reduce_ex__` leaves out two fields and shifts the rest, so an
    unpickled manifest fails on its first source()."""
    from dbt.contracts.graph.manifest import Manifest

    pickler = pickle.Pickler(file, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {
        **copyreg.dispatch_table,
        Manifest: lambda m: (_rebuild_manifest, (_manifest_fields(m),)),
    }
    pickler.dump((env, manifest))


def _load_parsed(path: Path):
    """A kept parse (environment read while parsing, manifest), or None."""
    try:
        with path.open("rb") as file:
            env, manifest = pickle.load(file)
    except Exception:  # noqa: BLE001 - missing, half-written or foreign: parse instead
        return None
    return manifest if _env_matches(env) else None


def _keep_parsed(path: Path, env: dict[str, str | None], manifest) -> None:
    """Write the parse for other processes (atomically), keeping the newest few. A
    cache: when it cannot be written (a read-only project), every process parses."""
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".tmp-", delete=False) as file:
            temporary = Path(file.name)
            _dump_parsed(file, env, manifest)
        os.replace(temporary, path)
        temporary = None
        kept = sorted(path.parent.glob("manifest-*.pickle"), key=lambda p: p.stat().st_mtime)
        for old in kept[:-KEEP_PARSED]:
            old.unlink(missing_ok=True)
    except Exception:  # noqa: BLE001 - never fails the run it serves
        if temporary is not None:
            temporary.unlink(missing_ok=True)


def _manifest(project_dir: Path, profiles_dir: Path, common: list[str], args: Sequence[str]):
    """The parsed project for these files and arguments: this process's, another
    process's (kept in the project's target folder) or parsed now."""
    from dbt.cli.main import dbtRunner

    shaping = _parse_args(args)
    key = _project_key(project_dir, profiles_dir, shaping)
    # the environment variables the project read while it was parsed
    if _PARSED.get("key") == key and _env_matches(_PARSED["env"]):
        return _PARSED["manifest"]
    _PARSED.clear()
    kept = (
        _parsed_dir(project_dir)
        / f"manifest-{hashlib.sha256(key.encode()).hexdigest()[:20]}.pickle"
    )
    manifest = _load_parsed(kept)
    if manifest is None:
        errors: list[str] = []

        def on_event(msg) -> None:
            if msg.info.level == "error":
                errors.append(msg.info.msg)

        result = dbtRunner(callbacks=[on_event]).invoke(
            ["parse", *common, *shaping, "--log-level", "none", "--log-level-file", "none"]
        )
        if not result.success or result.result is None:
            detail = "\n".join(errors) or str(result.exception or "no message")
            raise DbtRunError(f"dbt could not parse the project {project_dir}:\n{detail}")
        manifest = result.result
        _keep_parsed(kept, _parse_env(manifest), manifest)
    _PARSED.update(key=key, manifest=manifest, env=_parse_env(manifest))
    return manifest


@dataclass
class DbtRun:
    """One in-process dbt command. `stream()` yields Dagster events while dbt runs."""

    args: list[str]
    project_dir: Path
    profiles_dir: Path
    target_path: Path
    dagster_manifest: Mapping[str, Any]
    translator: Any
    context: Any = None
    project: Any = None
    elapsed_seconds: float | None = None
    errors: list[str] = field(default_factory=list)

    def _common(self) -> list[str]:
        return [
            "--project-dir",
            str(self.project_dir),
            "--profiles-dir",
            str(self.profiles_dir),
            "--target-path",
            str(self.target_path),
        ]

    def stream(self) -> Iterator[Any]:
        from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage
        from dbt.cli.main import dbtRunner
        from dbt_common.events.functions import msg_to_dict

        # dbt's own console and file logs are off: the echo below writes the
        # same lines (dbt's info-level messages) to this process's stdout.
        argv = [
            *self.args,
            *self._common(),
            "--log-level",
            "none",
            "--log-level-file",
            "none",
            "--no-use-colors",
        ]
        events: queue.SimpleQueue = queue.SimpleQueue()
        done = object()

        def on_event(msg) -> None:
            level = msg.info.level
            if level != "debug":
                events.put(("log", msg.info.msg))
            if level == "error":
                self.errors.append(msg.info.msg)
            if msg.info.name in RESULT_EVENTS:
                events.put(("result", msg_to_dict(msg)))

        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                manifest = _manifest(self.project_dir, self.profiles_dir, self._common(), self.args)
                runner = dbtRunner(manifest=manifest, callbacks=[on_event])
                outcome["result"] = runner.invoke(argv)
            except BaseException as error:  # reported in the caller's thread
                outcome["error"] = error
            finally:
                try:
                    _close_duckdb()
                finally:
                    events.put(done)

        started = time.monotonic()
        with _LOCK:
            # A daemon thread: a run that Dagster terminates does not wait for dbt.
            thread = threading.Thread(target=work, name="dbt", daemon=True)
            thread.start()
            interrupted = False
            try:
                while (item := events.get()) is not done:
                    kind, payload = item
                    if kind == "log":
                        print(payload, flush=True)
                        continue
                    message = DbtCoreCliEventMessage(raw_event=payload, event_history_metadata={})
                    yield from message.to_default_asset_events(
                        manifest=self.dagster_manifest,
                        dagster_dbt_translator=self.translator,
                        context=self.context,
                        target_path=self.target_path,
                        project=self.project,
                    )
            except (KeyboardInterrupt, SystemExit):
                interrupted = True  # the process is ending: do not wait for dbt
                raise
            finally:
                # A caller that stops early (an error while handling an event)
                # waits for dbt, which cannot be stopped halfway, so the next
                # run in this process never meets this one's dbt or database.
                if not interrupted:
                    thread.join()
        if "error" in outcome:
            raise outcome["error"]
        result = outcome["result"]
        run_result = result.result
        self.elapsed_seconds = getattr(run_result, "elapsed_time", None) or (
            time.monotonic() - started
        )
        if not result.success:
            detail = self.errors or [str(result.exception or "no message")]
            raise DbtRunError(
                f"`dbt {' '.join(self.args)}` failed.\n\nErrors parsed from dbt logs:\n"
                + "\n".join(detail)
            )


def dbt_run(
    context,
    args: Sequence[str],
    *,
    target_path: Path,
    project_dir: Path,
    profiles_dir: Path,
) -> DbtRun:
    """A dbt command for a `@dbt_assets` body, with the subset Dagster asked for
    (the same `--select`/`--selector` that `DbtCliResource.cli` would add)."""
    from dagster_dbt.asset_utils import (
        extract_runtime_selection_from_args,
        get_updated_cli_invocation_params_for_context,
    )

    cleaned, selects, excludes = extract_runtime_selection_from_args(list(args))
    params = get_updated_cli_invocation_params_for_context(
        context=context,
        manifest={},
        dagster_dbt_translator=None,
        runtime_selects=selects,
        runtime_excludes=excludes,
    )
    extra = list(params.selection_args)
    if params.indirect_selection:
        extra += ["--indirect-selection", params.indirect_selection]
    if params.dbt_project is not None:  # a temporary copy for a large selector
        project_dir = Path(params.dbt_project.project_dir)
    return DbtRun(
        args=[*cleaned, *extra],
        project_dir=project_dir,
        profiles_dir=profiles_dir,
        target_path=target_path,
        dagster_manifest=params.manifest,
        translator=params.dagster_dbt_translator,
        context=context,
        project=params.dbt_project,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m orchestration.dbt_runner <dbt arguments>`: dbt, with the parsed
    project kept between processes as a refresh keeps it. The test suite's
    hand-made builds run dbt this way (a new folder each would otherwise parse
    the whole project, ~7 s). `parse` itself runs as it is. The exit code is
    dbt's: 0 success, 1 a node failed, 2 dbt could not run."""
    import sys

    from dbt.cli.main import dbtRunner

    args = list(sys.argv[1:] if argv is None else argv)

    def code(result) -> int:
        return 0 if result.success else 1 if result.exception is None else 2

    if not args or args[0] == "parse":
        return code(dbtRunner().invoke(args))

    def value(flag: str, default: str) -> str:
        return args[args.index(flag) + 1] if flag in args[:-1] else default

    project_dir = Path(value("--project-dir", os.getcwd())).resolve()
    profiles_dir = Path(
        value("--profiles-dir", os.environ.get("DBT_PROFILES_DIR", str(project_dir)))
    ).resolve()
    target = value("--target-path", str(project_dir / "target"))
    common = [
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(profiles_dir),
        "--target-path",
        target,
    ]
    try:
        manifest = _manifest(project_dir, profiles_dir, common, args)
        return code(dbtRunner(manifest=manifest).invoke(args))
    except DbtRunError as error:
        print(error, flush=True)
        return 2
    finally:
        _close_duckdb()


if __name__ == "__main__":
    raise SystemExit(main())
