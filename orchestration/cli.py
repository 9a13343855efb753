"""The `crm` command (the console script): crm's command line, with `crm refresh`
and `crm demo` running this package's Dagster job. crm itself never imports
this package (DECISIONS 1); the command is where the two meet."""

from __future__ import annotations

from typing import Any


def run_refresh(settings, **options: Any):
    """orchestration.refresh.run_refresh, imported when a refresh runs: the other
    commands start without Dagster."""
    from orchestration.refresh import run_refresh as run

    return run(settings, **options)


def main(argv: list[str] | None = None) -> int:
    from crm import cli

    return cli.main(argv, run_refresh=run_refresh)


def run() -> None:
    from crm import cli

    cli.run(run_refresh=run_refresh)


if __name__ == "__main__":
    run()
