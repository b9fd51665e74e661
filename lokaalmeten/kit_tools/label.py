"""The kit's label: the password of its set-up network, made once per kit and kept.

Without Wi-Fi the kit opens the access point ``lokaalmeten-<last 6 of its node id>``; its
WPA2 password (``portal_password`` in config.json) keeps the neighbours' phones out of the
kit's settings, which hold its token and the home's Wi-Fi password. ``deploy`` reads the
password the kit already has, makes one only when there is none, writes it into config.json
and prints it for the label, so that a label once stuck on stays true::

    existing = kit_password(run_on_kit(READ_SCRIPT))   # "" when the kit has none
    password = existing or new_password()              # e.g. "bavo-kedu-mipa-zute"
    print(label_line("esp32-0a1b2c", password))
"""

from __future__ import annotations

import json
import secrets

# Letters that cannot be mistaken for one another on a printed label or typed wrongly on a
# phone (no l/i/o, no q/x/c/w/y), in consonant-vowel syllables that read as words.
CONSONANTS = "bdfghjkmnprstvz"
VOWELS = "aeu"
GROUPS = 4  # of two syllables each: 4 * 2 * log2(15 * 3) ≈ 44 bits, 19 characters
PASSWORD_MIN, PASSWORD_MAX = 8, 63  # WPA2-PSK passphrase, as kit/config.py checks it

# Run on the kit (mpremote exec) before copying: the set-up password it has, or "".
READ_SCRIPT = "\n".join(
    [
        "import json",
        "try:",
        "    with open('config.json') as f:",
        "        p = json.load(f).get('portal_password', '')",
        "except Exception:",
        "    p = ''",
        "print(json.dumps({'portal_password': p if isinstance(p, str) else ''}))",
    ]
)


def new_password() -> str:
    """A fresh random password that is easy to read off a label and type on a phone."""
    groups = []
    for _ in range(GROUPS):
        groups.append(
            "".join(secrets.choice(CONSONANTS) + secrets.choice(VOWELS) for _ in range(2))
        )
    return "-".join(groups)


def kit_password(answer: str) -> str:
    """The password in the kit's answer to READ_SCRIPT; "" when it has none or a bad one."""
    for line in reversed(answer.strip().splitlines()):
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        value = doc.get("portal_password") if isinstance(doc, dict) else None
        if isinstance(value, str) and PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
            return value
        return ""
    return ""


def access_point(node: str) -> str:
    """The kit's set-up network, named as kit/link.py names it."""
    return "lokaalmeten-" + node[-6:]


def label_line(node: str, password: str) -> str:
    if not password:
        return (
            f"label: set-up network {access_point(node)} is open (no password); "
            "deploy without --keep-config gives it one"
        )
    return f"label: set-up network {access_point(node)}, password {password}"
