"""The kit's set-up portal as a neighbour meets it: headless Chromium against the real firmware.

The kit is ``firmware/sim/simkit.py`` under the unix MicroPython, compiled with mpy-cross as
``lokaalmeten simulate`` runs it, with Wi-Fi unconfigured so that it opens its portal; the
fake radio puts the access point on 127.0.0.1, so Chromium reaches the page the kit serves.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lokaalmeten.services.ports import free_port
from lokaalmeten.simulate import compile_firmware, default_heap, micropython_env
from tests.helpers import wait_until
from tests.web.conftest import new_page, screenshot

pytestmark = pytest.mark.micropython


class PortalKit:
    """A simulated kit with no Wi-Fi set up: its portal answers on ``url``."""

    def __init__(self, micropython: str, work: Path) -> None:
        self.flash = work / "flash"
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/"
        env = micropython_env(fakes=True, compiled=compile_firmware(work / ".firmware"))
        self.process = subprocess.Popen(
            [
                micropython, "-X", f"heapsize={default_heap('sim')}", "-m", "simkit",
                "node=buurt-7", f"folder={self.flash}", f"port={free_port()}", "interval=30",
                "wifi=none", f"portal_port={port}",
            ],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.events: list[dict[str, Any]] = []
        threading.Thread(target=self._follow, daemon=True).start()
        wait_until(lambda: self.seen("portal_open"), 60, "the kit's portal to open")

    def _follow(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                self.events.append(json.loads(line))
            except ValueError:
                self.events.append({"event": "output", "text": line})

    def seen(self, kind: str) -> bool:
        return any(e.get("event") == kind for e in list(self.events))

    def config(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.flash / "config.json").read_text())
        return loaded

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(10)


@pytest.fixture
def kit(micropython: str, tmp_path: Path) -> Iterator[PortalKit]:
    started = PortalKit(micropython, tmp_path)
    yield started
    started.stop()


def errors_listed(page: Any) -> list[str]:
    return [text.strip() for text in page.locator("#errors li").all_inner_texts()]


def test_a_dutch_browser_gets_the_simple_form_in_dutch_and_can_switch(
    browser: Any, kit: PortalKit
) -> None:
    page = new_page(browser, locale="nl-NL")
    page.goto(kit.url)
    assert page.locator("html").get_attribute("lang") == "nl"
    # The simple form: the Wi-Fi network and its password, visible at once.
    assert page.get_by_label("Wifi-netwerk").is_visible()
    assert page.get_by_label("Wifi-wachtwoord").is_visible()
    assert page.get_by_role("button", name="Opslaan en herstarten").is_visible()
    # Everything else is folded under "advanced" until asked for.
    gateway = page.locator("input[name=gateway_host]")
    assert not gateway.is_visible()
    page.get_by_text("Geavanceerd").click()
    assert gateway.is_visible()
    screenshot(page, "portal-nl")
    page.get_by_role("link", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_label("Wi-Fi network").is_visible()
    assert page.get_by_role("button", name="Save and restart").is_visible()
    page.context.close()

    english = new_page(browser, locale="en-GB")
    english.goto(kit.url)
    assert english.locator("html").get_attribute("lang") == "en"
    assert english.get_by_label("Wi-Fi password").is_visible()
    english.context.close()


def test_every_error_is_shown_at_once_and_the_typed_values_stay(
    browser: Any, kit: PortalKit
) -> None:
    before = kit.config()
    page = new_page(browser, locale="en-US")
    page.goto(kit.url)
    page.get_by_label("Wi-Fi network").fill("Thuis")
    page.get_by_label("Wi-Fi password").fill("geheim 123!")
    page.get_by_text("Advanced").click()
    page.locator("input[name=interval_s]").fill("often")
    page.locator("input[name=latitude]").fill("52.09")
    page.locator("input[name=gateway_port]").fill("70000")
    page.locator("textarea[name=sensors]").fill("sim-pm\nsds012 uart=2")
    page.get_by_role("button", name="Save and restart").click()
    page.wait_for_selector("#errors")
    listed = errors_listed(page)
    screenshot(page, "portal-en-errors")
    assert len(listed) == 4, listed
    joined = "\n".join(listed)
    assert re.search(r"Measurement interval.*must be a number", joined)
    assert re.search(r"Gateway port.*from 1 to 65535", joined)
    assert re.search(r"Latitude.*both", joined)
    assert "line 2" in joined and "sds012" in joined
    # Each field says its own problem too, and the folded part is open to show them.
    assert page.locator("details").get_attribute("open") is not None
    assert page.locator("input[name=interval_s]").get_attribute("aria-invalid") == "true"
    # What was typed is still there, the password too: nothing to type again.
    assert page.get_by_label("Wi-Fi network").input_value() == "Thuis"
    assert page.get_by_label("Wi-Fi password").input_value() == "geheim 123!"
    assert page.locator("input[name=interval_s]").input_value() == "often"
    assert page.locator("input[name=latitude]").input_value() == "52.09"
    assert page.locator("textarea[name=sensors]").input_value() == "sim-pm\nsds012 uart=2"
    assert kit.config() == before  # nothing saved

    # Correct the mistakes; the password needs no retyping.
    page.locator("input[name=interval_s]").fill("60")
    page.locator("input[name=latitude]").fill("")
    page.locator("input[name=gateway_port]").fill("1883")
    page.locator("textarea[name=sensors]").fill("sim-pm")
    page.get_by_role("button", name="Save and restart").click()
    page.wait_for_selector(".ok")
    assert "Saved" in page.locator(".ok").inner_text()
    saved = kit.config()
    assert saved["wifi_ssid"] == "Thuis" and saved["wifi_password"] == "geheim 123!"
    assert saved["interval_s"] == 60 and saved["sensors"][0]["type"] == "sim-pm"
    page.context.close()


def test_errors_in_dutch_all_at_once_including_the_simple_fields(
    browser: Any, kit: PortalKit
) -> None:
    page = new_page(browser, locale="nl-BE")
    page.goto(kit.url)
    page.get_by_label("Wifi-wachtwoord").fill("kort")
    page.get_by_role("button", name="Opslaan en herstarten").click()
    page.wait_for_selector("#errors")
    listed = errors_listed(page)
    screenshot(page, "portal-nl-errors")
    assert len(listed) == 2, listed
    assert re.search(r"Wifi-netwerk.*vul", listed[0], re.IGNORECASE)
    assert re.search(r"Wifi-wachtwoord.*minstens 8 tekens", listed[1])
    assert page.locator("html").get_attribute("lang") == "nl"
    assert page.get_by_label("Wifi-wachtwoord").input_value() == "kort"
    # The simple fields' errors need no unfolding: "advanced" stays closed.
    assert page.locator("details").get_attribute("open") is None
    page.get_by_label("Wifi-netwerk").fill("sim-wifi")
    page.get_by_label("Wifi-wachtwoord").fill("simulated")
    page.get_by_role("button", name="Opslaan en herstarten").click()
    page.wait_for_selector(".ok")
    assert "Opgeslagen" in page.locator(".ok").inner_text()
    assert kit.config()["wifi_ssid"] == "sim-wifi"
    # The kit restarts with the new settings and joins the network.
    wait_until(lambda: kit.seen("wifi_up"), 60, "the kit to join the Wi-Fi network")
    page.context.close()
