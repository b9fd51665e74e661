"""Refusals as RFC 9457 problem details naming the parameter, the API-Version header on every
/v1 answer, and each CSV export's licence and metadata as Link headers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from lokaalmeten import __version__
from tests.server.conftest import DAY, META, READINGS, fill, serve

PROBLEM = "application/problem+json"


def assert_problem(
    response: httpx.Response, status: int, path: str, parameter: str | None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["api-version"] == __version__
    body: dict[str, Any] = response.json()
    assert body["type"] == "about:blank"
    assert (body["status"], body["instance"]) == (status, path)
    assert body["title"] and body["detail"]
    # The body of earlier releases is still there for the clients that read it.
    assert body["error"]["status"] == status
    assert body["error"]["message"] == body["detail"]
    if parameter is None:
        assert "invalid-params" not in body
    else:
        assert body["invalid-params"] == [{"name": parameter, "reason": body["detail"]}]
        assert body["error"]["parameter"] == parameter
    return body


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/v1/readings?from=2026-11-29&to=2026-11-28", "from"),  # ApiError
        ("/v1/readings?limit=many", "limit"),  # FastAPI's validation
        ("/v1/export/readings.csv?delimiter=tab", "delimiter"),
        ("/v1/aggregates?window=1w", "window"),
        ("/v1/readings?bbox=1,2,3", "bbox"),
    ],
)
def test_a_bad_parameter_is_a_problem_that_names_it(
    client: TestClient, url: str, parameter: str
) -> None:
    body = assert_problem(client.get(url), 400, url.split("?")[0], parameter)
    assert body["title"] == "Bad Request"


def test_no_such_node_path_or_method_are_problems(client: TestClient) -> None:
    assert_problem(client.get("/v1/nodes/nobody"), 404, "/v1/nodes/nobody", "node")
    body = assert_problem(client.get("/v1/nothing"), 404, "/v1/nothing", None)
    assert body["title"] == "Not Found"
    body = assert_problem(client.post("/v1/nodes"), 405, "/v1/nodes", None)
    assert body["title"] == "Method Not Allowed"


def test_the_guards_refusals_are_problems(store_url: str) -> None:
    fill(store_url, READINGS, META)
    with serve(store_url, max_query_length=100) as client:
        url = "/v1/readings?node=" + "x" * 200
        assert_problem(client.get(url), 400, "/v1/readings", "query")
    with serve(store_url, rate_limit=1) as client:
        assert client.get("/v1/nodes").status_code == 200
        refused = client.get("/v1/quantities")
        assert_problem(refused, 429, "/v1/quantities", None)
        assert int(refused.headers["retry-after"]) >= 1


def test_sensorthings_keeps_its_plain_json_errors(client: TestClient) -> None:
    response = client.get("/v1.1/Things('nobody')")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.headers["api-version"] == __version__
    assert set(response.json()) == {"error"}


@pytest.mark.parametrize(
    "url",
    ["/v1", "/v1/nodes", f"/v1/export/readings.csv?{DAY}", "/v1/dataset", "/v1.1/Things"],
)
def test_every_v1_answer_names_the_full_version(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["api-version"] == __version__
    assert response.headers["api-version"] == client.get("/v1").json()["version"]


def test_the_web_page_has_no_api_version(client: TestClient) -> None:
    assert "api-version" not in client.get("/", headers={"accept": "text/html"}).headers


@pytest.mark.parametrize(
    "url",
    [
        f"/v1/export/readings.csv?{DAY}",
        f"/v1/export/aggregates.csv?{DAY}",
        "/v1/export/noise.csv?start=2026-11-28&end=2026-11-29",
        f"/v1/export/corrected.csv?node=kit-1&quantity=pm25&{DAY}",
    ],
)
@pytest.mark.parametrize("licence", ["CC0-1.0", "CC-BY-4.0"])
def test_every_csv_export_links_its_licence_and_metadata(
    store_url: str, url: str, licence: str
) -> None:
    fill(store_url, READINGS, META)
    with serve(store_url, licence=licence) as client:
        response = client.get(url)
        assert response.status_code == 200, response.text
        licence_url = client.get("/v1").json()["licence"]["url"]
        dataset = client.get("/v1/dataset").json()
    link = response.headers["link"]
    assert f'<{licence_url}>; rel="license"' in link
    assert '</v1/dataset>; rel="describedby"; type="application/ld+json"' in link
    # The metadata it points at names the same licence and the publisher to attribute.
    assert dataset["dct:license"] == {"@id": licence_url}
    assert dataset["dct:publisher"]["foaf:name"]
    assert response.headers["content-disposition"].startswith('attachment; filename="')
