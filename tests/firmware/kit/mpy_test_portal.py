# MicroPython tests of the set-up portal's form and language (firmware/kit/portal_form.py,
# firmware/kit/portal.py); the browser's view of the same is tests/web/test_portal.py.
from kit import config
from kit.portal import language, message, texts
from kit.portal_form import (
    E_DETAIL,
    E_KEY_NUMBER,
    E_LINE,
    E_NUMBER,
    E_PAIR,
    E_PASSWORD,
    E_QUANTITY,
    E_RANGE,
    E_REQUIRED,
    E_TOO_LONG,
    E_WHOLE,
    check,
    parse,
)

# Heap: the default; compiling from source takes more than the portal does (bench/portal_heap.py).


def _stored():
    doc = config.defaults()
    doc.update(node="kit-1", wifi_ssid="oud", wifi_password="oudgeheim", mqtt_password="tok")
    return config.validate(doc)


def test_a_good_form_becomes_the_configuration():
    fields = parse(
        "wifi_ssid=Thuis+net&wifi_password=ge%26heim+12&gateway_port=1884&interval_s=60"
        "&latitude=52.09&longitude=5.12&sensors=sds011+uart%3D2%0D%0Abme280"
        "&calibration=temperature%3D-1.5&location_exact=on&lang=nl"
    )
    doc, problems = check(fields, _stored())
    assert problems == [], problems
    assert doc["wifi_ssid"] == "Thuis net" and doc["wifi_password"] == "ge&heim 12"
    assert doc["gateway_port"] == 1884 and doc["interval_s"] == 60.0
    assert doc["latitude"] == 52.09 and doc["location_exact"] is True
    assert [s["type"] for s in doc["sensors"]] == ["sds011", "bme280"]
    assert doc["calibration"] == {"temperature": -1.5}
    assert doc["mqtt_password"] == "tok"  # empty field: the stored password stays


def test_every_problem_is_found_in_one_pass():
    fields = parse(
        "wifi_ssid=&wifi_password=kort&gateway_port=1.5&interval_s=often&latitude=52"
        "&node=" + "x" * 40 + "&sensors=sds012%0Asds011+uart%3Dtwo%0Abme280+i2c%3D9"
        "&calibration=warmth%3D1+temperature%3Dhot"
    )
    doc, problems = check(fields, _stored())
    assert doc is None
    found = [(key, number) for key, number, _ in problems]
    assert found == [
        ("node", E_TOO_LONG),
        ("gateway_port", E_WHOLE),
        ("interval_s", E_NUMBER),
        ("wifi_ssid", E_REQUIRED),
        ("wifi_password", E_PASSWORD),
        ("latitude", E_PAIR),
        ("sensors", E_LINE),
        ("sensors", E_KEY_NUMBER),
        ("sensors", E_LINE),
        ("calibration", E_QUANTITY),
        ("calibration", 23),
    ], found
    lines = [args[0] for key, number, args in problems if key == "sensors"]
    assert lines == [1, 2, 3]
    assert "sds012" in problems[6][2][1] and not problems[6][2][1].startswith("sensors[")


def test_ranges_and_bus_conflicts_name_the_line():
    fields = parse("wifi_ssid=a&gateway_port=0&sensors=sds011+uart%3D2%0A%0Apms5003+uart%3D2")
    _doc, problems = check(fields, _stored())
    assert problems[0] == ("gateway_port", E_RANGE, (1, 65535))
    assert problems[1][:2] == ("sensors", E_LINE) and problems[1][2][0] == 3  # blank line 2
    assert "already used" in problems[1][2][1]


def test_the_whole_configuration_is_still_checked():
    stored = _stored()
    stored["portal_password"] = "short"  # not on the form, and wrong: caught at the end
    doc, problems = check(parse("wifi_ssid=a"), stored)
    assert doc is None and [p[:2] for p in problems] == [(None, E_DETAIL)]


def test_the_language_is_the_choice_then_the_browser_then_english():
    assert language("en", "nl-NL,nl;q=0.9") == "en"
    assert language("", "nl-NL,nl;q=0.9,en;q=0.8") == "nl"
    assert language("", "en-GB,en;q=0.9,nl;q=0.8") == "en"
    assert language("", "de-DE,de;q=0.9,nl;q=0.7,en;q=0.5") == "nl"
    assert language("", "fr-FR,fr;q=0.9") == "en"
    assert language("", "") == "en"
    assert language("xx", "NL-be") == "nl"
    assert language("", "en;q=0.5, nl;q=bad") == "en"


def test_messages_are_in_the_language_and_escape_what_was_typed():
    problem = ("sensors", E_LINE, (2, "unknown type '<b>'"))
    assert message(texts("nl"), problem) == "Sensoren: regel 2: unknown type &#39;&lt;b&gt;&#39;"
    assert message(texts("en"), ("gateway_port", E_RANGE, (1, 65535))) == (
        "Gateway port: must be from 1 to 65535"
    )
    import sys

    assert "kit.portal_nl" not in sys.modules  # one language loaded at a time
