"""The daily noise indicators as SensorThings Datastreams, over both stores: they exist for a
node with LAeq readings only, their Observations are /v1/noise/indicators' days, and paging,
filters, $count and ids work on them as on the readings' Observations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from lokaalmeten.node_meta import NodeMeta
from lokaalmeten.readings import Reading
from tests.server.conftest import fill, get_ok, serve
from tests.test_noise_indicators import MAR_29, day_of

STA = "/v1.1"
H = 3600
MAR_30 = MAR_29 + 23 * H  # 2026-03-29T22:00:00Z: 30 March 00:00 CEST
MAR_31 = MAR_30 + 24 * H
APR_1 = MAR_31 + 24 * H
# Three local days of node n: the spring-forward day (Lden 58.709), 30 March without its
# evening (no Lden, not valid), and an ordinary 31 March. Node pm measures PM only.
READINGS = [
    *day_of(MAR_29, 6),
    *[r for r in day_of(MAR_30, 7) if not MAR_30 + 19 * H <= r.time < MAR_30 + 23 * H],
    *day_of(MAR_31, 7),
    Reading("pm", "pm25", MAR_30 + 600, 7.5, "SPS30"),
]
META = [NodeMeta("n", 52.1, 5.1, interval=600), NodeMeta("pm", 52.2, 5.2, interval=600)]
INDICATOR_IDS = ["n:lden", "n:lday", "n:levening", "n:lnight"]


@pytest.fixture
def client(store_url: str) -> Iterator[TestClient]:
    fill(store_url, READINGS, META)
    with serve(store_url, noise_threshold_db=50.0) as test_client:
        yield test_client


def sta(client: TestClient, path: str, **options: str) -> Any:
    query = "&".join(f"${k}={quote(v)}" for k, v in options.items())
    return get_ok(client, f"{STA}/{path}" + (f"?{query}" if query else ""))


def level(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_noise_node_has_indicator_datastreams_and_a_pm_node_none(client: TestClient) -> None:
    streams = sta(client, "Things('n')/Datastreams")["value"]
    assert [d["@iot.id"] for d in streams] == ["n:noise_laeq", *INDICATOR_IDS]
    assert [d["@iot.id"] for d in sta(client, "Things('pm')/Datastreams")["value"]] == ["pm:pm25"]
    every = [d["@iot.id"] for d in sta(client, "Datastreams")["value"]]
    assert every == ["n:noise_laeq", *INDICATOR_IDS, "pm:pm25"]
    lden = sta(client, "Datastreams('n:lden')")
    assert lden["unitOfMeasurement"]["symbol"] == "dB(A)"
    assert lden["observationType"].endswith("OM_Measurement")
    assert lden["phenomenonTime"] == f"{iso(MAR_29)}/{iso(APR_1)}"
    assert lden["properties"]["indicators"] == "http://testserver/v1/noise/indicators?node=n"
    assert "+5" in lden["properties"]["method"] and "75 %" in lden["properties"]["validity"]
    assert lden["properties"]["threshold_db"] == 50.0
    prop = sta(client, "Datastreams('n:lnight')/ObservedProperty")
    assert prop["@iot.id"] == "lnight"
    assert "2002/49" in prop["definition"] and "2002/49/EC Annex I" in prop["description"]
    assert [
        d["@iot.id"] for d in sta(client, "ObservedProperties('lden')/Datastreams")["value"]
    ] == ["n:lden"]
    # The noise readings named no sensor model: the indicators share their Sensor.
    assert [d["@iot.id"] for d in sta(client, "Sensors('unknown')/Datastreams")["value"]] == [
        "n:noise_laeq",
        *INDICATOR_IDS,
    ]
    expanded = sta(client, "Things('n')", expand="Datastreams($select=id)")
    assert [d["@iot.id"] for d in expanded["Datastreams"]] == ["n:noise_laeq", *INDICATOR_IDS]
    pm = sta(client, "Things", filter="@iot.id eq 'pm'", expand="Datastreams($select=id)")
    assert pm["value"][0]["Datastreams"] == [{"@iot.id": "pm:pm25"}]


def test_observations_are_the_rest_apis_days(client: TestClient) -> None:
    rest = get_ok(client, "/v1/noise/indicators?node=n&start=2026-03-29&end=2026-04-01")["value"]
    observations = sta(client, "Datastreams('n:lden')/Observations")["value"]
    assert [o["@iot.id"] for o in observations] == [f"n:lden:{t}" for t in (MAR_29, MAR_30, MAR_31)]
    # Rounded to 0.01 dB as in /v1/export/noise.csv: the same whatever range was asked.
    assert [o["result"] for o in observations] == [level(d["lden"]) for d in rest]
    spring = observations[0]
    assert spring["result"] == 58.71
    assert spring["phenomenonTime"] == f"{iso(MAR_29)}/{iso(MAR_30)}"
    assert spring["resultTime"] == iso(MAR_30)
    assert spring["resultQuality"] == []
    assert spring["parameters"] == {
        "date": "2026-03-29",
        "hours": 23,
        "valid_hours": 23,
        "coverage": 1.0,
        "readings": 138,
        "hours_above": 16,
        "threshold_db": 50.0,
        "periods_valid": [True, True, True],
        "valid": True,
    }
    # 30 March had no evening: no Lden, not valid, as /v1/noise/indicators says.
    assert (observations[1]["result"], observations[1]["resultQuality"]) == (
        None,
        ["insufficient_coverage"],
    )
    assert observations[1]["parameters"]["valid"] is rest[1]["valid"] is False
    night = sta(client, "Datastreams('n:lnight')/Observations")["value"]
    assert [o["result"] for o in night] == [level(d["lnight"]["level"]) for d in rest]
    assert night[0]["parameters"] == {
        "date": "2026-03-29",
        "hours": 7,
        "valid_hours": 7,
        "coverage": 1.0,
        "readings": 42,
        "valid": True,
    }
    evening = sta(client, "Datastreams('n:levening')/Observations")["value"]
    assert evening[1]["result"] is None and evening[1]["parameters"]["readings"] == 0
    # By id, and its links back.
    one = sta(client, f"Observations('n:lden:{MAR_29}')")
    assert {k: one[k] for k in spring} == spring
    assert sta(client, f"Observations('n:lden:{MAR_29}')/Datastream")["@iot.id"] == "n:lden"
    assert sta(client, f"Observations('n:lden:{MAR_29}')/FeatureOfInterest")["@iot.id"] == "n"
    assert sta(client, f"Datastreams('n:lden')/Observations('n:lden:{MAR_31}')")["result"] == (
        level(rest[2]["lden"])
    )


def test_paging_ordering_and_count(client: TestClient) -> None:
    path = "Datastreams('n:lday')/Observations"
    first = sta(client, path, top="1", count="true")
    assert first["@iot.count"] == 3
    assert [o["@iot.id"] for o in first["value"]] == [f"n:lday:{MAR_29}"]
    second = get_ok(client, first["@iot.nextLink"])
    assert [o["@iot.id"] for o in second["value"]] == [f"n:lday:{MAR_30}"]
    third = get_ok(client, second["@iot.nextLink"])
    assert [o["@iot.id"] for o in third["value"]] == [f"n:lday:{MAR_31}"]
    assert "@iot.nextLink" not in third
    newest = sta(client, path, top="2", orderby="phenomenonTime desc")
    assert [o["@iot.id"] for o in newest["value"]] == [f"n:lday:{MAR_31}", f"n:lday:{MAR_30}"]
    older = get_ok(client, newest["@iot.nextLink"])
    assert [o["@iot.id"] for o in older["value"]] == [f"n:lday:{MAR_29}"]
    skipped = sta(client, path, top="1", skip="1")
    assert [o["@iot.id"] for o in skipped["value"]] == [f"n:lday:{MAR_30}"]
    # The spring night's 50 dB hour weighs more in 7 hours than in 8; nulls last descending.
    by_result = sta(client, "Datastreams('n:lden')/Observations", orderby="result desc")
    assert [o["@iot.id"] for o in by_result["value"]] == [
        f"n:lden:{t}" for t in (MAR_29, MAR_31, MAR_30)
    ]
    assert "@iot.nextLink" not in by_result
    arrays = sta(client, path, resultFormat="dataArray", select="id,result")["value"]
    assert arrays[0]["Datastream@iot.navigationLink"].endswith("/Datastreams('n:lday')")
    assert arrays[0]["dataArray@iot.count"] == 3


def test_time_and_result_filters_pick_the_right_days(client: TestClient) -> None:
    path = "Datastreams('n:lden')/Observations"
    march_30 = sta(
        client,
        path,
        filter=f"phenomenonTime ge {iso(MAR_30)} and phenomenonTime lt {iso(MAR_31)}",
        count="true",
    )
    assert [o["@iot.id"] for o in march_30["value"]] == [f"n:lden:{MAR_30}"]
    assert march_30["@iot.count"] == 1
    ends = sta(client, path, filter=f"resultTime le {iso(MAR_31)}")["value"]
    assert [o["@iot.id"] for o in ends] == [f"n:lden:{MAR_29}", f"n:lden:{MAR_30}"]
    loud = sta(client, path, filter="result gt 58 and parameters/valid eq true")["value"]
    assert [o["@iot.id"] for o in loud] == [f"n:lden:{MAR_29}", f"n:lden:{MAR_31}"]
    # The local date is a parameter; date(phenomenonTime) is the UTC date of the day's start.
    local = sta(client, path, filter="parameters/date eq '2026-03-30'", select="id")["value"]
    assert local == [{"@iot.id": f"n:lden:{MAR_30}"}]
    utc = sta(client, path, filter="date(phenomenonTime) eq 2026-03-30", select="id")["value"]
    assert utc == [{"@iot.id": f"n:lden:{MAR_31}"}]  # 31 March starts 30 March 22:00 UTC
    # The Datastream named in a filter of /Observations leads to the same days.
    named = sta(client, "Observations", filter="Datastream/@iot.id eq 'n:lden'", select="id")
    assert named["value"] == [{"@iot.id": f"n:lden:{t}"} for t in (MAR_29, MAR_30, MAR_31)]
    # /Observations itself holds the readings only (docs/api.md).
    readings = sta(client, "Observations", filter=f"phenomenonTime lt {iso(MAR_29 + 900)}")
    assert [o["@iot.id"] for o in readings["value"]] == [f"n:noise_laeq:{MAR_29 + 300}"]


@pytest.mark.parametrize(
    "path",
    [
        "Datastreams('pm:lden')",
        "Datastreams('n:lfoo')",
        "Datastreams('nobody:lnight')",
        f"Observations('n:lden:{MAR_29 + 1}')",  # no local day starts then
        f"Observations('n:lden:{APR_1}')",  # a day without readings
        f"Observations('pm:lden:{MAR_30}')",
        "Observations('n:lden:99999999999999999999')",
        f"Datastreams('n:lday')/Observations('n:lden:{MAR_29}')",
    ],
)
def test_bad_ids_answer_404(client: TestClient, path: str) -> None:
    response = client.get(f"{STA}/{path}")
    assert response.status_code == 404, response.text
    assert response.json()["error"]["status"] == 404


def test_a_request_for_every_day_is_bounded(store_url: str) -> None:
    fill(store_url, READINGS, META)
    with serve(store_url, max_points=48) as client:
        path = f"{STA}/Datastreams('n:lden')/Observations"
        refused = client.get(f"{path}?$count=true")
        assert refused.status_code == 400
        assert "max_points" in refused.json()["error"]["message"]
        # The same question for two days is within the bound; a page in order needs no count.
        two = f"phenomenonTime ge {iso(MAR_30)}"
        assert get_ok(client, f"{path}?$count=true&$filter={quote(two)}")["@iot.count"] == 2
        assert len(get_ok(client, f"{path}?$top=3")["value"]) == 3


def test_a_page_token_of_another_datastream_is_refused(client: TestClient) -> None:
    # A token from the Lday pages sent to Lden's would silently skip days it never showed.
    response = client.get(f"{STA}/Datastreams('n:lden')/Observations?$skiptoken=n:lday:{MAR_29}")
    assert response.status_code == 400, response.text
    assert "follow @iot.nextLink" in response.json()["error"]["message"]


def test_days_apart_are_found_across_chunks(store_url: str) -> None:
    # Ten days of silence between two days, computed at most 4 days at a time.
    apr_9 = MAR_31 + 9 * 24 * H
    fill(store_url, [*day_of(MAR_29, 6), *day_of(apr_9, 7)], META[:1])
    with serve(store_url, max_range_days=4) as client:
        path = f"{STA}/Datastreams('n:lden')/Observations?$select=id"
        both = [{"@iot.id": f"n:lden:{t}"} for t in (MAR_29, apr_9)]
        assert get_ok(client, f"{path}&$top=2")["value"] == both
        assert (
            get_ok(client, f"{path}&$top=5&$orderby=phenomenonTime%20desc")["value"] == both[::-1]
        )
        first = get_ok(client, f"{path}&$top=1&$count=true")
        assert (first["value"], first["@iot.count"]) == (both[:1], 2)
        assert get_ok(client, first["@iot.nextLink"])["value"] == both[1:]
