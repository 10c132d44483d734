"""The rules of the code base that a reader relies on, checked on the source itself."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_CLASSIFIERS = {"apache_beam", "confluent_kafka", "kafka", "elasticsearch",
                            "elastic_transport", "pipelines"}


def _python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_classifiers_are_pure_ml():
    offenders = {str(p.relative_to(ROOT)): sorted(_imported_roots(p) & FORBIDDEN_IN_CLASSIFIERS)
                 for p in _python_files("classifiers")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_settings_module_reads_the_environment():
    readers = []
    for path in _python_files("pipelines", "classifiers"):
        if path.relative_to(ROOT).as_posix() == "pipelines/settings.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
                readers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert readers == []


def _reports(handler: ast.ExceptHandler) -> bool:
    """The handler re-raises, or logs the traceback (log.exception): nothing is hidden."""
    for node in ast.walk(handler):
        if isinstance(node, ast.Raise):
            return True
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "exception":
            return True
    return False


def test_no_broad_except_that_hides_the_error():
    offenders = []
    for path in _python_files("pipelines", "classifiers"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ExceptHandler):
                continue
            broad = node.type is None or (isinstance(node.type, ast.Name)
                                          and node.type.id in ("Exception", "BaseException"))
            if broad and (node.type is None or not _reports(node)):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
