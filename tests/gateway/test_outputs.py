"""The gateway's outputs are found by URL scheme: forwarders in one registry, stores in theirs."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from lokaalmeten.gateway import outputs
from lokaalmeten.gateway.outputs import OUTPUTS, open_output
from lokaalmeten.gateway.sensor_community import SensorCommunityForwarder
from lokaalmeten.store import SQLiteStore, StoreError


def test_each_registered_output_names_a_module_that_opens_it() -> None:
    for kind, module in OUTPUTS.items():
        assert callable(importlib.import_module(module).open_output), kind


def test_a_forwarder_url_opens_the_forwarder_and_any_other_a_store(tmp_path: Path) -> None:
    forwarder = open_output("sensorcommunity+https://api.sensor.community/v1/push/?nodes=k1")
    assert isinstance(forwarder, SensorCommunityForwarder)
    forwarder.close()
    store = open_output(f"sqlite:///{tmp_path / 'lm.db'}")
    assert isinstance(store, SQLiteStore)
    store.close()


def test_an_unknown_output_is_the_stores_clear_error() -> None:
    with pytest.raises(StoreError, match="unknown store"):
        open_output("carrierpigeon+https://example.org/coop")
    with pytest.raises(StoreError, match="write sensorcommunity\\+https://"):
        open_output("sensorcommunity+ftp://api.sensor.community/?nodes=k1")


def test_no_output_is_chosen_by_an_if_chain_again() -> None:
    for source in (Path(outputs.__file__), Path(outputs.__file__).with_name("pipeline.py")):
        assert '"sensorcommunity+' not in source.read_text()
