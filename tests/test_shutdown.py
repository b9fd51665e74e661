"""Shutdown: a stop request a signal handler may make, and waits that wake on it."""

from __future__ import annotations

import os
import signal
import threading
import time

from lokaalmeten.shutdown import Shutdown


def test_a_request_wakes_every_waiting_thread_at_once() -> None:
    shutdown = Shutdown()
    woke: list[float] = []

    def waiter() -> None:
        shutdown.wait(30)
        woke.append(time.monotonic())

    threads = [threading.Thread(target=waiter) for _ in range(5)]
    for thread in threads:
        thread.start()
    time.sleep(0.1)
    asked = time.monotonic()
    shutdown.request()
    for thread in threads:
        thread.join(2)
    assert len(woke) == 5 and max(woke) - asked < 0.5
    assert shutdown.wait(0) and shutdown.wait(30)  # and it stays requested


def test_wait_returns_false_after_its_timeout() -> None:
    started = time.monotonic()
    assert Shutdown().wait(0.05) is False
    assert 0.04 <= time.monotonic() - started < 1


def test_a_storm_of_signals_during_a_wait_never_deadlocks() -> None:
    """Event.set() in a handler hung a demo for good after a few SIGTERMs in a row; the
    handler here takes no lock, however many signals land inside one another."""
    shutdown = Shutdown()
    before = signal.getsignal(signal.SIGTERM)
    with shutdown.on_signals():

        def storm() -> None:
            for _ in range(200):
                os.kill(os.getpid(), signal.SIGTERM)

        sender = threading.Thread(target=storm)
        sender.start()
        started = time.monotonic()
        assert shutdown.wait(10)
        sender.join(5)
    assert time.monotonic() - started < 2
    assert shutdown.signal == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) == before  # given back


def test_outside_the_main_thread_installing_does_nothing() -> None:
    found: list[object] = []
    thread = threading.Thread(target=lambda: found.append(Shutdown().install()))
    thread.start()
    thread.join(5)
    assert found == [{}]
