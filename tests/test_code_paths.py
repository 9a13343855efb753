"""How the code's layers talk: crm never imports orchestration (DECISIONS 1), and
settings never travel through the process's environment (DECISIONS 72): only
the command line's entry point writes it, and anyone may turn telemetry off."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Where a process starts from the command line: its flags become settings there.
ENTRY_POINTS = {"crm/cli.py"}
# What any module may set (with setdefault) before importing a tool that phones home.
TELEMETRY = {
    "DO_NOT_TRACK",
    "DAGSTER_DISABLE_TELEMETRY",
    "DBT_SEND_ANONYMOUS_USAGE_STATS",
    "GX_ANALYTICS_ENABLED",
}
WRITING_METHODS = {"update", "setdefault", "pop", "popitem", "clear", "__setitem__"}


def _modules(*packages: str):
    for package in packages:
        for path in sorted((REPO / package).rglob("*.py")):
            yield path.relative_to(REPO).as_posix(), ast.parse(path.read_text(), str(path))


def _is_environ(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )


def environment_writes(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) for every write to os.environ in `tree`, telemetry switches excepted."""
    found = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Assign | ast.AugAssign | ast.Delete):
            targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
        for target in targets:
            if isinstance(target, ast.Subscript) and _is_environ(target.value):
                found.append((node.lineno, "os.environ[...]"))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            func = node.func
            if func.attr == "putenv" and isinstance(func.value, ast.Name) and func.value.id == "os":
                found.append((node.lineno, "os.putenv"))
            if _is_environ(func.value) and func.attr in WRITING_METHODS:
                key = node.args[0] if node.args else None
                telemetry = (
                    func.attr == "setdefault"
                    and isinstance(key, ast.Constant)
                    and key.value in TELEMETRY
                )
                if not telemetry:
                    found.append((node.lineno, f"os.environ.{func.attr}"))
    return found


def test_settings_do_not_travel_through_the_environment():
    writes = {
        f"{name}:{line}": what
        for name, tree in _modules("crm", "orchestration", "models")
        if name not in ENTRY_POINTS
        for line, what in environment_writes(tree)
    }
    assert writes == {}


def test_the_check_finds_writes():
    tree = ast.parse(
        "import os\n"
        "os.environ['CRM_X'] = '1'\n"
        "os.environ.update(CRM_Y='2')\n"
        "os.environ.setdefault('CRM_Z', '3')\n"
        "os.environ.setdefault('DO_NOT_TRACK', '1')\n"
        "del os.environ['CRM_X']\n"
        "os.putenv('A', 'b')\n"
        "value = os.environ.get('CRM_X')\n"
    )
    assert sorted(line for line, _ in environment_writes(tree)) == [2, 3, 4, 6, 7]


def test_crm_never_imports_orchestration():
    imports = []
    for name, tree in _modules("crm"):
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [node.module or ""]
            else:
                continue
            imports += [
                f"{name}:{node.lineno} {m}"
                for m in modules
                if m == "orchestration" or m.startswith("orchestration.")
            ]
    assert imports == []
