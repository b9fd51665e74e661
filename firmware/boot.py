"""Runs first at every start of the ESP32: nothing to set up before main.py.

Wi-Fi is started by the kit runtime itself (station, or the set-up portal's access point),
so that a wrong setting can never stop the board from reaching main.py and its watchdog.
"""
