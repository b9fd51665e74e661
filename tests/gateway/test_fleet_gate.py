"""The rollout's health gate (gateway/fleet_gate.py) on kit statuses as kits publish them,
kept in a real node directory: each verdict, the pause threshold, silence timing, a pause
made once and never over a rollout it did not judge, and a status arriving through the
gateway's KitFacts pausing the rollout."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lokaalmeten.gateway.directory import Directory, KitEntry
from lokaalmeten.gateway.fleet import Gate, Offer, Rollout, RolloutFile
from lokaalmeten.gateway.fleet_gate import RolloutWatch, judge, too_many
from lokaalmeten.gateway.kit_facts import KitFacts
from lokaalmeten.gateway.metrics import GatewayMetrics
from lokaalmeten.gateway.mqtt_ingest import Message
from lokaalmeten.protocol.status import parse_status
from lokaalmeten.protocol.topics import status_topic

T0 = 1_795_737_600  # when the release was offered
NEW = "0.3.0"
GATE = Gate(max_failed=0.2, silent_after=1800)


def status(fw: str = "0.2.0", state: str = "online", **update: Any) -> bytes:
    """The retained status firmware/kit/status.py publishes, with its update counters
    (``update``, ``update_version``, ``update_reason``) when given."""
    if state == "offline":
        return json.dumps({"v": 1, "state": "offline", "fw": fw}).encode()
    counters = {"seq": 12, "queued": 0, "published": 12, **update}
    return json.dumps({"v": 1, "state": "online", "fw": fw, "counters": counters}).encode()


def about(version: str, update: str, reason: str = "") -> dict[str, str]:
    counters = {"update": update, "update_version": version}
    return {**counters, "update_reason": reason} if reason else counters


@pytest.fixture
def directory(tmp_path: Path) -> Directory:
    return Directory(tmp_path / "registry.db")


def heard(directory: Directory, node: str, payload: bytes, at: int, retained: bool = False) -> None:
    directory.report_status(node, parse_status(payload), at, retained=retained)


def rollout(*nodes: str, gate: Gate = GATE, withdrawn: tuple[str, ...] = ()) -> Rollout:
    offers = {
        node: Offer(T0, serial, "canary", "0.2.0", T0 + 5 if node in withdrawn else None)
        for serial, node in enumerate(nodes, 1)
    }
    return Rollout(NEW, T0, gate=gate, offers=offers, serial=len(nodes))


def verdicts(result_kits: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    return {node: (kit.verdict, kit.why) for node, kit in result_kits.items()}


def test_each_kit_gets_the_verdict_its_status_says(directory: Directory) -> None:
    now = T0 + 2000  # past silent_after since the offer: a kit never heard is silent
    recent = now - 60
    heard(directory, "pending", status(), recent)
    heard(directory, "offered", status(**about(NEW, "offered")), recent)
    heard(directory, "waiting", status(**about(NEW, "waiting", "gateway paused")), recent)
    heard(directory, "downloading", status(**about(NEW, "downloading")), recent)
    heard(directory, "trial", status(NEW, **about(NEW, "trial")), recent)
    heard(directory, "healthy", status(NEW, **about(NEW, "healthy")), recent)
    heard(directory, "runs-it", status(NEW), recent)  # a kit deployed by cable meanwhile
    heard(directory, "rolled", status(**about(NEW, "rolled_back", "MemoryError")), recent)
    heard(directory, "refused", status(**about(NEW, "refused", "bad signature")), recent)
    # An earlier update's rollback is not this rollout's.
    heard(directory, "earlier", status(**about("0.2.5", "rolled_back", "crash loop")), recent)
    heard(directory, "offline", status(state="offline"), T0 + 100)
    heard(directory, "withdrawn", status(), recent)
    nodes = ["pending", "offered", "waiting", "downloading", "trial", "healthy", "runs-it",
             "rolled", "refused", "earlier", "offline", "never", "withdrawn"]  # fmt: skip
    result = judge(rollout(*nodes, withdrawn=("withdrawn",)), directory.entries(), now)
    assert verdicts(result.kits) == {
        "pending": ("pending", "has not taken the offer up yet (0.2.0)"),
        "offered": ("pending", "has the offer, not yet downloading"),
        "waiting": ("pending", "waiting: gateway paused"),
        "downloading": ("downloading", f"downloading {NEW}"),
        "trial": ("trial", f"switched to {NEW}, not yet healthy"),
        "healthy": ("healthy", f"runs {NEW}, healthy"),
        "runs-it": ("healthy", f"runs {NEW}"),
        "rolled": ("failed", "rolled_back: MemoryError"),
        "refused": ("failed", "refused: bad signature"),
        "earlier": ("pending", "has not taken the offer up yet (0.2.0)"),
        "offline": ("silent", "offline for 32 min"),
        "never": ("silent", "no status since the offer 33 min ago"),
        "withdrawn": ("withdrawn", "the offer was withdrawn (fleet pause --withdraw)"),
    }
    # 4 bad (2 failed, 2 silent) of the 12 still offered: more than 20 %.
    assert result.pause is not None
    assert result.pause.startswith(f"4 of 12 kits offered {NEW} failed or fell silent")
    assert "rolled rolled_back: MemoryError" in result.pause
    assert "never silent: no status since the offer" in result.pause


def test_exactly_max_failed_does_not_pause_one_more_does(directory: Directory) -> None:
    nodes = [f"kit-{i}" for i in range(1, 6)]
    for node in nodes:
        heard(directory, node, status(), T0 + 60)
    heard(directory, "kit-1", status(**about(NEW, "rolled_back", "crash loop")), T0 + 90)
    one = judge(rollout(*nodes), directory.entries(), T0 + 120)
    assert one.count("failed") == 1 and one.pause is None  # 1 of 5 is 20 %: not more
    heard(directory, "kit-2", status(**about(NEW, "refused", "sha256 of kit/runtime.mpy")), T0 + 95)
    two = judge(rollout(*nodes), directory.entries(), T0 + 120)
    assert two.pause is not None and two.pause.startswith("2 of 5 kits")
    assert "(more than 20%)" in two.pause
    # A withdrawn offer counts neither way: 1 of the 4 still offered is 25 %.
    assert judge(rollout(*nodes, withdrawn=("kit-2",)), directory.entries(), T0 + 120).pause
    # Exactly at the share also where binary floating point is a hair under it.
    assert 0.29 * 100 < 29
    assert not too_many(29, 100, 0.29) and too_many(30, 100, 0.29)
    assert not too_many(0, 3, 0.0) and too_many(1, 3, 0.0)
    assert not too_many(3, 3, 1.0)


def test_silence_counts_from_the_last_status_or_the_offer_whichever_is_later(
    directory: Directory,
) -> None:
    offered = rollout("after", "before", "retained", "healthy")
    heard(directory, "after", status(), T0 + 100)
    heard(directory, "before", status(), T0 - 5000)
    heard(directory, "retained", status(), T0 + 50, retained=True)  # a copy: not heard then
    heard(directory, "healthy", status(NEW, **about(NEW, "healthy")), T0 + 100)
    heard(directory, "healthy", status(NEW, state="offline"), T0 + 200)

    def verdict(node: str, now: int) -> tuple[str, str]:
        kit = judge(offered, directory.entries(), now).kits[node]
        return kit.verdict, kit.why

    assert verdict("after", T0 + 100 + 1800)[0] == "pending"  # silent_after is not more
    assert verdict("after", T0 + 100 + 1801) == ("silent", "no status for 30 min")
    assert verdict("before", T0 + 1800)[0] == "pending"
    assert verdict("before", T0 + 1801) == ("silent", "no status since the offer 30 min ago")
    assert verdict("retained", T0 + 1801) == ("silent", "no status since the offer 30 min ago")
    # Settled: a healthy kit that then goes offline for hours is still healthy.
    assert verdict("healthy", T0 + 10 * 3600)[0] == "healthy"


def _failing(directory: Directory) -> None:
    for node in ("kit-1", "kit-2"):
        heard(directory, node, status(**about(NEW, "rolled_back", "crash loop")), T0 + 60)


def test_the_watch_pauses_once_and_an_operators_resume_stands(
    directory: Directory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = RolloutFile(tmp_path / "fleet" / "rollout.json")
    state.change(lambda _: rollout("kit-1", "kit-2", "kit-3"))
    _failing(directory)
    watch = RolloutWatch(state, directory.entries, clock=lambda: T0 + 120)
    with caplog.at_level(logging.WARNING, logger="lokaalmeten.gateway"):
        paused, result = watch.check()
        again, _ = watch.check()
    assert paused is not None and paused.paused is not None and result is not None
    assert (paused.paused.by, paused.paused.at) == ("gate", T0 + 120)
    assert paused.paused.reason == result.pause
    assert again == paused
    assert len([r for r in caplog.records if "paused by the health gate" in r.message]) == 1
    # The operator resumes with a gate that allows it: the watch leaves it going.
    state.change(lambda r: None if r is None else replace(r.resumed(), gate=Gate(1.0)))
    going, result = watch.check()
    assert going is not None and going.paused is None
    assert result is not None and result.count("failed") == 2


FIXED = Rollout("0.3.1", T0 + 100, gate=GATE, offers={"kit-3": Offer(T0 + 100, 3, "canary", "")})
LENIENT = replace(rollout("kit-1", "kit-2"), gate=Gate(max_failed=1.0))


@pytest.mark.parametrize("meanwhile", [FIXED, LENIENT], ids=["new release", "lenient gate"])
def test_the_watch_does_not_pause_what_the_operator_wrote_while_it_judged(
    directory: Directory, tmp_path: Path, meanwhile: Rollout
) -> None:
    path = tmp_path / "rollout.json"
    RolloutFile(path).change(lambda _: rollout("kit-1", "kit-2"))
    _failing(directory)
    calls = 0

    def entries() -> Mapping[str, KitEntry]:
        # The operator's `fleet rollout 0.3.1` (or a gate that allows more), from another
        # process, lands just after the watch read the state and before it writes a pause.
        nonlocal calls
        calls += 1
        if calls == 1:
            RolloutFile(path).change(lambda _: meanwhile)
        return directory.entries()

    now, result = RolloutWatch(RolloutFile(path), entries, clock=lambda: T0 + 120).check()
    assert now == meanwhile and now.paused is None  # judged afresh, under the lock
    assert result is not None and result.pause is None
    assert RolloutFile(path).current() == meanwhile


def test_a_failed_status_arriving_through_kit_facts_pauses_the_rollout(
    directory: Directory, tmp_path: Path
) -> None:
    state = RolloutFile(tmp_path / "rollout.json")
    nodes = [f"kit-{i}" for i in range(1, 6)]
    state.change(lambda _: rollout(*nodes))
    watch = RolloutWatch(state, directory.entries, clock=lambda: T0 + 120)
    facts = KitFacts(directory, GatewayMetrics(), "lokaalmeten", rollout=watch)

    def arrives(node: str, payload: bytes) -> None:
        facts.status(Message(status_topic(node), payload, 1, 1, T0 + 60))

    for node in nodes:
        arrives(node, status())
    arrives("kit-1", status(**about(NEW, "rolled_back", "MemoryError")))
    current = state.current()
    assert current is not None and current.paused is None  # 1 of 5: not more than 20 %
    arrives("kit-4", status(**about(NEW, "refused", "signature")))
    current = state.current()
    assert current is not None and current.paused is not None
    assert current.paused.by == "gate"
    assert "kit-1 rolled_back: MemoryError; kit-4 refused: signature" in current.paused.reason
