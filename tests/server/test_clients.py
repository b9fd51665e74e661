"""Outside clients against the real server: FROST's SensorThings client over HTTP, and
schemathesis generating requests from /openapi.json (no input may give a 5xx)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import frost_sta_client as fsc
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings

from lokaalmeten.server.app import create_app
from lokaalmeten.services.ports import free_port
from lokaalmeten.settings import ServerSettings
from tests.helpers import served_in_thread
from tests.server.conftest import META, READINGS, fill, registry_for


@pytest.fixture
def served(store_url: str) -> Iterator[str]:
    """The API on a real loopback port (uvicorn in a thread); yields its SensorThings URL."""
    fill(store_url, READINGS, META)
    port = free_port()
    registry = str(registry_for(store_url))
    settings = ServerSettings(
        store=store_url, registry=registry, rate_limit=0, max_limit=50, default_limit=50
    )
    app = create_app(settings)
    with served_in_thread(app, port):
        yield f"http://127.0.0.1:{port}/v1.1"


# frost-sta-client calls furl's deprecated pathstr; not ours to fix.
@pytest.mark.filterwarnings("ignore:furl.pathstr is deprecated:DeprecationWarning")
def test_frost_client_lists_things_datastreams_and_filtered_observations(served: str) -> None:
    service = fsc.SensorThingsService(served)
    things = list(service.things().query().list())
    assert [(t.id, t.name) for t in things] == [("kit-1", "Balkon Lombok"), ("kit-2", "School")]
    streams = list(things[0].get_datastreams().query().list())
    assert [d.id for d in streams] == ["kit-1:pm25", "kit-1:temperature"]
    assert streams[0].unit_of_measurement.symbol == "µg/m³"
    high = service.observations().query().filter("result gt 30").orderby("result", "desc")
    assert [o.result for o in high.list()] == [34.0, 33.0, 32.0, 31.0]
    datastream = service.datastreams().find("kit-2:pm25")
    observations = list(datastream.get_observations().query().filter("result lt 22").list())
    assert [(o.result, o.phenomenon_time) for o in observations] == [
        (20.0, "2026-11-28T00:00:00Z"),
        (21.0, "2026-11-28T00:01:00Z"),
    ]


@pytest.fixture
def api(tmp_path: Path) -> FastAPI:
    url = f"sqlite:///{tmp_path / 'lm.db'}"
    fill(url, READINGS, META)
    return create_app(
        ServerSettings(
            store=url,
            registry=str(registry_for(url)),
            rate_limit=0,
            max_limit=50,
            default_limit=50,
            max_points=5000,
        )
    )


def test_no_generated_request_gets_a_server_error(api: FastAPI) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 10
    statuses: dict[int, int] = {}

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            # Each run draws other cases; 20 per operation keep the whole API within a minute.
            max_examples=20,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: Any) -> None:
            response = case.call()
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} {case.query}: {response.text}"
            )

        call()
    # The generated requests reached the handlers: both answers and refusals were seen.
    assert statuses.get(200, 0) > 50 and statuses.get(400, 0) > 20, statuses
