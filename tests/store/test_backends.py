"""Stores are found by URL scheme in one registry, and the keyset cursor is one helper."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lokaalmeten import store
from lokaalmeten.store import BACKENDS, ReadingQuery, SQLiteStore, StoreError, open_store


def test_each_registered_scheme_names_a_module_that_opens_it() -> None:
    import importlib

    assert {"sqlite", "influxdb", "influxdbs"} <= set(BACKENDS)
    for scheme, module in BACKENDS.items():
        assert callable(importlib.import_module(module).open_url), scheme


def test_an_unknown_scheme_is_the_clear_error_users_get() -> None:
    with pytest.raises(
        StoreError, match=re.escape("unknown store; use sqlite:///path/to/file.db or")
    ):
        open_store("postgres://localhost/lm")


def test_a_registered_scheme_opens_its_backend(tmp_path: Path) -> None:
    opened = open_store(f"sqlite:///{tmp_path / 'lm.db'}")
    try:
        assert isinstance(opened, SQLiteStore)
    finally:
        opened.close()


def test_no_backend_is_chosen_by_an_if_chain_again() -> None:
    # A new store is one module and one line in BACKENDS; open_store names no scheme itself.
    source = Path(store.__file__).read_text()
    opener = source[source.index("def open_store") :]
    assert "scheme ==" not in opener and "scheme in (" not in opener


def test_the_cursor_skips_the_streams_before_it_and_trims_its_own() -> None:
    page = ReadingQuery(0, 100, 10, after=("kit-1", "pm25", 40))
    assert page.window("kit-1", "pm10", 0, 100) is None
    assert page.window("kit-1", "pm25", 0, 100) == (41, 100)
    assert page.window("kit-1", "temperature", 0, 100) == (0, 100)
    assert page.window("kit-2", "pm10", 5, 90) == (5, 90)
    newest_first = ReadingQuery(0, 100, 10, after=("kit-1", "pm25", 40), descending=True)
    assert newest_first.window("kit-1", "pm25", 0, 100) == (0, 40)
    assert ReadingQuery(0, 100, 10).window("kit-0", "pm1", 0, 100) == (0, 100)


def test_no_backend_keeps_its_own_copy_of_the_cursor() -> None:
    for module in ("sqlite", "influxdb"):
        source = (Path(store.__file__).parent / f"{module}.py").read_text()
        assert "query.after[2]" not in source, f"lokaalmeten/store/{module}.py"
