# MicroPython tests of the kit configuration (firmware/kit/config.py).
import json

from mpy_test_support import drop_flash, fresh_flash

from kit import config
from kit.errors import KitError

# Compiling kit.pins from source at each check costs more heap than the .mpy a kit loads.
MPY_HEAP = "96k"


def _refused(doc, *words):
    try:
        config.validate(doc)
    except KitError as exc:
        for word in words:
            assert word in str(exc), (word, str(exc))
        return
    raise AssertionError(f"accepted {doc!r}")


def test_missing_keys_get_the_defaults():
    conf = config.validate({"wifi_ssid": "home"})
    assert conf["interval_s"] == 145 and conf["gateway_port"] == 1883
    assert conf["wifi_ssid"] == "home" and conf["sensors"] == []


def test_errors_name_the_bad_key():
    _refused({"intervall_s": 10}, "intervall_s", "unknown")
    _refused({"interval_s": "often"}, "interval_s", "number")
    _refused({"interval_s": 0}, "interval_s", "1")
    _refused({"gateway_port": 1883.5}, "gateway_port", "whole")
    _refused({"node": "Kit One"}, "node")
    _refused({"wifi_password": "short"}, "wifi_password", "8")
    _refused({"latitude": 52.1}, "latitude", "longitude")
    _refused({"location_exact": "yes"}, "location_exact")
    _refused({"calibration": {"pm2.5": 1}}, "calibration", "pm2.5")
    _refused({"release_key": "ab" * 31}, "release_key", "64 hex")
    _refused({"release_key": "AB" * 32}, "release_key", "64 hex")  # deploy writes lower case
    _refused({"release_key": "g" * 64}, "release_key", "64 hex")


def test_the_release_key_deploy_writes_is_kept():
    key = "6d64e764d7740611d17b6a3506bda07ccef5adea06f2eed552c11b54c4d835a2"
    assert config.validate({"release_key": key})["release_key"] == key
    assert config.validate({})["release_key"] == ""


def test_sensor_table_is_checked_with_defaults_for_pins():
    conf = config.validate({"sensors": [{"type": "sds011"}, {"type": "bme280", "address": 0x77}]})
    assert conf["sensors"][0] == {"type": "sds011", "uart": 2, "rx": 16, "tx": 17}
    assert conf["sensors"][1]["sda"] == 21 and conf["sensors"][1]["address"] == 0x77
    _refused({"sensors": [{"type": "sds012"}]}, "sensors[0]", "sds012")
    _refused({"sensors": [{"type": "sds011", "rx": 99}]}, "sensors[0].rx")
    _refused({"sensors": [{"type": "bme280", "pin": 4}]}, "sensors[0]", "pin")
    _refused({"sensors": [{"type": "sds011"}, {"type": "pms5003"}]}, "sensors[1]", "uart 2")


def test_an_invalid_file_falls_back_to_defaults_with_the_reason():
    flash = fresh_flash()
    try:
        assert config.load() == (config.defaults(), None)  # no file: first boot
        with open(config.PATH, "w") as f:
            f.write('{"wifi_ssid": "home", ')
        conf, problem = config.load()
        assert conf == config.defaults() and "not valid JSON" in problem
        with open(config.PATH, "w") as f:
            json.dump({"interval_s": -5}, f)
        conf, problem = config.load()
        assert conf["interval_s"] == 145 and "interval_s" in problem
    finally:
        drop_flash(flash)


def test_save_refuses_bad_settings_and_keeps_the_old_file():
    flash = fresh_flash()
    try:
        config.save({"wifi_ssid": "home", "interval_s": 300})
        try:  # noqa: SIM105 - MicroPython has no contextlib
            config.save({"wifi_ssid": "home", "interval_s": "soon"})
        except KitError:
            pass
        conf, problem = config.load()
        assert problem is None and conf["interval_s"] == 300
    finally:
        drop_flash(flash)


def _board(board, **pins):
    return {"board": board, "sensors": [dict({"type": "sds011"}, **pins)]}


def test_pins_are_checked_against_the_board():
    _refused(_board("esp32-devkitc", rx=6), "sensors[0].rx", "GPIO 6", "flash")
    _refused(_board("esp32-devkitc", tx=35), "sensors[0].tx", "GPIO 35", "input-only")
    _refused(_board("esp32-devkitc", rx=20), "GPIO 20", "does not exist")
    _refused(_board("esp32-wrover", rx=16), "GPIO 16", "PSRAM")
    _refused(_board("esp32s3-n16r8", uart=1, rx=35), "sensors[0].rx", "GPIO 35", "PSRAM")
    _refused(_board("esp32s3-n16r8", uart=1, rx=27), "GPIO 27", "flash")
    _refused(_board("esp32c3", uart=1, rx=22), "sensors[0].rx", "GPIO 22", "does not exist")
    _refused(_board("esp32c3", uart=1, rx=12), "GPIO 12", "flash")
    _refused(_board("esp32-c3"), "'board'", "esp32c3")
    conf = config.validate(_board("esp32s3-n16r8", uart=1, rx=47, tx=48))
    assert conf["sensors"][0]["rx"] == 47 and conf["board"] == "esp32s3-n16r8"
    # An input-only pin is fine where the kit only listens.
    assert config.validate(_board("esp32-devkitc", rx=34))["sensors"][0]["rx"] == 34
    i2s = {"board": "esp32-devkitc", "sensors": [{"type": "noise", "sd": 39, "ws": 36}]}
    _refused(i2s, "sensors[0].ws", "GPIO 36", "input-only")


def test_without_a_board_the_running_chip_decides():
    from kit import pins

    assert pins.running_board() == "esp32-devkitc"  # the unix port is no S3 or C3
    _refused({"sensors": [{"type": "sds011", "rx": 9}]}, "GPIO 9", "flash")
