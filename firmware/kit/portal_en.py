"""The set-up portal's words in English: one tuple, loaded only while an English page is made.

``TEXT[i]`` is trusted HTML; the numbers are ``kit.portal_form`` (labels, errors) and
``kit.portal`` (the page). ``kit/portal_nl.py`` has the same entries in the same order.
"""

TEXT = (
    # field labels, in the order of portal_form.KEYS
    "Wi-Fi network",
    "Wi-Fi password",
    "Kit name (node id; empty: esp32-&lt;MAC&gt;)",
    "Gateway (MQTT broker) address",
    "Gateway port",
    "MQTT user (empty: the node id)",
    "MQTT password (the kit's token)",
    "Latitude",
    "Longitude",
    "Measurement interval (s)",
    "Sensors",
    "Calibration offsets",
    "Publish the exact location (otherwise rounded to about 100 m)",
    # errors
    "fill this in",
    "must be a number",
    "must be a whole number",
    "must be from %s to %s",
    "at most %d characters",
    "at least 8 characters",
    "give both latitude and longitude, or neither",
    "2 to 32 characters from a-z, 0-9, - and _, starting with a letter or digit",
    "line %d: %s",
    "line %d: %s needs key=number",
    "%s needs quantity=offset, e.g. temperature=-1.5",
    "unknown quantity %s",
    "%s",
    # the page
    "lokaalmeten kit %s",
    "Fill in your Wi-Fi network and its password, then save.",
    "Advanced",
    "deploy filled these in: change them only when your gateway's operator asks you to.",
    "Save and restart",
    "Saved. The kit restarts with the new settings.",
    "Not saved. Please correct the following; the old settings still apply.",
    "Could not save the settings: %s",
    "stored; leave empty to keep it",
    "show password",
    "Status",
    "Wi-Fi: %s, gateway: %s, last sent: %s",
    "connected",
    "not connected",
    "never",
    "waiting to be sent: %d, sent: %d, dropped (outbox full): %d",
    "Latest readings",
    "one per line, type and pins, e.g. <code>sds011 uart=2 rx=16 tx=17</code>; types: %s",
    "e.g. <code>temperature=-1.5</code>",
)
