"""Requests learn that nobody waits any more: their client hung up, or the server stops."""

from __future__ import annotations

import threading
import time

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from lokaalmeten.server.budget import ClientLeft, Deadline
from lokaalmeten.server.disconnect import ClientGone, Working, client_gone
from tests.helpers import wait_until


def test_a_stopping_server_abandons_the_requests_still_working() -> None:
    """What server/serve.py does after its grace: a route working in a thread ends at its
    next deadline check, instead of holding the process for the rest of its time limit."""
    working = Working()
    app = FastAPI()
    app.add_middleware(ClientGone, working=working)

    @app.get("/slow")
    def slow(request: Request) -> dict[str, str]:
        deadline = Deadline(30, client_gone(request))
        try:
            while True:
                deadline.check()
                time.sleep(0.01)
        except ClientLeft:
            return {"ended": "abandoned"}

    answers: list[dict[str, str]] = []
    with TestClient(app) as client:
        thread = threading.Thread(target=lambda: answers.append(client.get("/slow").json()))
        thread.start()
        wait_until(lambda: len(working) == 1, 5, "the request to start working")
        abandoned = time.monotonic()
        working.abandon()
        thread.join(5)
        assert answers == [{"ended": "abandoned"}]
        assert time.monotonic() - abandoned < 1
    assert len(working) == 0
