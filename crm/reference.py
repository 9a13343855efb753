"""Reference pages generated from the code, so that they cannot drift from it.

The documentation site (`make docs`, docs/hooks.py) puts them in place when it
builds: the environment variables (crm.config.ENVIRONMENT), the dbt vars with
their defaults and comments (dbt_project.yml), and every mart with its grain,
columns and descriptions (dbt's manifest).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from crm.config import ENVIRONMENT

REPO = Path(__file__).resolve().parents[1]
SECTION = re.compile(r"^  # -{3,} *(.*)$")
COMMENT = re.compile(r"^  # ?(.*)$")
VAR = re.compile(r"^  ([A-Za-z_][A-Za-z0-9_]*):")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def environment_reference(internal: bool = False) -> str:
    """A Markdown table of the operator's `CRM_*` variables (or the internal ones)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [
        f"| `{v.name}` | {_cell(v.default)} | {_cell(v.meaning)} |"
        for v in ENVIRONMENT
        if v.internal == internal
    ]
    return "\n".join(rows) + "\n"


@dataclass
class VarGroup:
    """Vars that one comment block describes, in the order dbt_project.yml lists them."""

    section: str
    comment: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


def dbt_var_groups(project_file: Path = REPO / "dbt_project.yml") -> list[VarGroup]:
    """The `vars:` of dbt_project.yml, grouped by the comment above them."""
    lines = project_file.read_text().splitlines()
    start = lines.index("vars:") + 1
    groups: list[VarGroup] = []
    section, comment, open_group = "General", [], None
    for line in lines[start:]:
        if line and not line.startswith(" ") and not line.startswith("#"):
            break  # the next top-level key
        if match := SECTION.match(line):
            section, comment, open_group = match.group(1).strip(), [], None
        elif match := COMMENT.match(line):
            comment.append(match.group(1))
            open_group = None
        elif match := VAR.match(line):
            if open_group is None:
                open_group = VarGroup(section, comment)
                groups.append(open_group)
                comment = []
            open_group.names.append(match.group(1))
        elif not line.strip():
            open_group = None if comment else open_group
    return groups


def _default(value: Any) -> str:
    return f"`{json.dumps(value)}`"


def dbt_vars_reference(project_file: Path = REPO / "dbt_project.yml") -> str:
    """Markdown: every dbt var with its default and the comment that explains it."""
    values = yaml.safe_load(project_file.read_text())["vars"]
    out, section = [], None
    for group in dbt_var_groups(project_file):
        if group.section != section:
            section = group.section
            out += [f"\n### {section}\n", "| vars | defaults | meaning |", "|---|---|---|"]
        names = "<br>".join(f"`{n}`" for n in group.names)
        defaults = "<br>".join(_default(values[n]) for n in group.names)
        out.append(f"| {names} | {_cell(defaults)} | {_cell(' '.join(group.comment))} |")
    return "\n".join(out).lstrip("\n") + "\n"


def _first_paragraph(text: str) -> str:
    return (text or "").strip().split("\n\n")[0].replace("\n", " ")


def marts_reference(manifest_file: Path = REPO / "target" / "manifest.json") -> str:
    """Markdown: every mart (dbt model in the `marts` schema) by folder, with its
    description and a table of its columns."""
    manifest = json.loads(manifest_file.read_text())
    marts = sorted(
        (node["fqn"][-2], node["name"], node)
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["schema"] == "marts"
    )
    out, folder = [], None
    for group, name, node in marts:
        if group != folder:
            folder = group
            out.append(f"\n## {folder.replace('_', ' ').capitalize()}\n")
        out.append(f"### {name}\n")
        out.append((node.get("description") or "(no description)").strip() + "\n")
        columns = node.get("columns") or {}
        if columns:
            out += ["| column | type | description |", "|---|---|---|"]
            for column in columns.values():
                kind = column.get("data_type") or ""
                text = _first_paragraph(column.get("description", ""))
                out.append(f"| `{column['name']}` | {_cell(kind)} | {_cell(text)} |")
            out.append("")
    return "\n".join(out).lstrip("\n")


def metrics_reference(manifest_file: Path = REPO / "target" / "manifest.json") -> str:
    """Markdown: every metric of the semantic layer (name, type, definition), then
    each semantic model with its mart and the dimensions it brings, from dbt's
    manifest (models/semantic/)."""
    manifest = json.loads(manifest_file.read_text())
    out = ["| metric | type | definition |", "|---|---|---|"]
    for metric in sorted(manifest["metrics"].values(), key=lambda m: m["name"]):
        out.append(
            f"| `{metric['name']}` | {metric['type']} | "
            f"{_cell(_first_paragraph(metric.get('description') or ''))} |"
        )
    out += ["", "| semantic model | mart | entities | dimensions |", "|---|---|---|---|"]
    for model in sorted(manifest["semantic_models"].values(), key=lambda m: m["name"]):
        mart = model["depends_on"]["nodes"][0].rsplit(".", 1)[-1]
        entities = ", ".join(f"`{e['name']}` ({e['type']})" for e in model.get("entities", []))
        dimensions = ", ".join(
            f"`{d['name']}`" + (" (time)" if d["type"] == "time" else "")
            for d in model.get("dimensions", [])
        )
        out.append(f"| `{model['name']}` | `{mart}` | {entities} | {dimensions} |")
    return "\n".join(out) + "\n"


def mart_names(manifest_file: Path = REPO / "target" / "manifest.json") -> set[str]:
    manifest = json.loads(manifest_file.read_text())
    return {
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["schema"] == "marts"
    }


CODE_PACKAGES = ("crm", "orchestration", "bench")


def module_summaries(root: Path = REPO) -> list[tuple[str, str]]:
    """(path, first line of the docstring) of every Python module of the code."""
    found = []
    for package in CODE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            doc = ast.get_docstring(ast.parse(path.read_text())) or ""
            found.append((path.relative_to(root).as_posix(), doc.strip().split("\n")[0]))
    return found


def code_map(root: Path = REPO) -> str:
    """Markdown: a table of every Python module and what its docstring says it is."""
    rows = ["| module | what it is |", "|---|---|"]
    rows += [f"| `{path}` | {_cell(summary)} |" for path, summary in module_summaries(root)]
    return "\n".join(rows) + "\n"


def dbt_doc(name: str, manifest_file: Path = REPO / "target" / "manifest.json") -> str:
    """The text of the dbt docs block `name` (`{% docs name %}` beside the models)."""
    docs = json.loads(manifest_file.read_text())["docs"]
    found = [doc for doc in docs.values() if doc["name"] == name]
    if not found:
        raise KeyError(f"no dbt docs block {name!r} in {manifest_file}")
    return found[0]["block_contents"].strip() + "\n"


def _subcommands(parser) -> list[tuple[str, str, Any]]:
    """(name, help, parser) of each subcommand of an argparse parser, in order."""
    import argparse

    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            found += [(name, helps.get(name, ""), sub) for name, sub in action.choices.items()]
    return found


def _option_rows(parser) -> list[str]:
    import argparse

    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        name = ", ".join(action.option_strings) or action.metavar or action.dest
        if not action.option_strings:
            pass  # a positional: its name
        elif action.choices and not isinstance(action.choices, dict):
            name += " {" + ",".join(str(c) for c in action.choices) + "}"
        elif action.metavar or (action.option_strings and action.nargs != 0):
            name += " " + (action.metavar or action.dest.upper()).replace("|", ",")
        default = action.default
        hidden = default is None or default is False or default is argparse.SUPPRESS
        shown = "" if hidden or default == [] else f"`{default}`"
        rows.append(f"| `{name}` | {shown} | {_cell(action.help or '')} |")
    return rows


def commands_reference() -> str:
    """Markdown: every `crm` command with its options, from the command's own parser."""
    from crm.cli import build_parser

    out = []

    def walk(prefix: str, parser) -> None:
        for name, text, sub in _subcommands(parser):
            command = f"{prefix} {name}"
            nested = _subcommands(sub)
            if not nested:
                out.append(f"### `{command}`\n")
                out.append(f"{text}\n" if text else "")
                rows = _option_rows(sub)
                if rows:
                    out.extend(["| option | default | meaning |", "|---|---|---|", *rows, ""])
            walk(command, sub)

    walk("crm", build_parser())
    return "\n".join(out)
