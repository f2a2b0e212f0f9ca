"""Fixtures shared by the test modules: small and generic on purpose."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[str, str | bytes], Path]:
    """Write ``content`` to ``tmp_path / name`` (text as UTF-8, bytes as they are).

    >>> path = write_file("events.csv", "user_id,event,ts\\nu1,visit,2026-01-05\\n")
    """

    def write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return write


@pytest.fixture
def altair_objects(monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[str]]:
    """Call it to list, from then on, the names of the Altair objects built (a chart
    builds dozens; a chart filled in from a learnt layout builds none)."""
    from altair.utils.schemapi import SchemaBase

    def start() -> list[str]:
        built: list[str] = []
        init = SchemaBase.__init__

        def counting_init(self: SchemaBase, *args: Any, **kwargs: Any) -> None:
            built.append(type(self).__name__)
            init(self, *args, **kwargs)

        monkeypatch.setattr(SchemaBase, "__init__", counting_init)
        return built

    return start
