# Runs inside MicroPython: imports one test module and runs its test_* functions in order,
# printing one result line per test for the pytest plugin in tests/firmware/conftest.py.
# Started as `micropython -c "import mpy_runner"` with MPY_TEST_MODULE and MPY_TESTS (names
# separated by spaces) in the environment, so that no script folder lands first on sys.path.
import io
import json
import os
import sys

MARK = "@@mpytest "


def main():
    module_name = os.getenv("MPY_TEST_MODULE")
    try:
        module = __import__(module_name)
    except Exception as exc:
        buf = io.StringIO()
        sys.print_exception(exc, buf)
        print(MARK + json.dumps({"test": "<import>", "ok": False, "error": buf.getvalue()}))
        return
    for name in os.getenv("MPY_TESTS").split():
        try:
            getattr(module, name)()
            print(MARK + json.dumps({"test": name, "ok": True}))
        except Exception as exc:
            buf = io.StringIO()
            sys.print_exception(exc, buf)
            print(MARK + json.dumps({"test": name, "ok": False, "error": buf.getvalue()}))


main()
