"""A fake `network` module for the unix port: the Wi-Fi radio, with the real socket stack behind it.

``WLAN`` behaves like the ESP32's for what the kit uses (station connect, access point,
RSSI). Which networks exist is up to the simulation: ``NETWORKS`` maps SSID to password
(``None`` for an open one); a connection to a listed SSID with the right password succeeds
at once, anything else never does (as when the network is out of range). Sockets are the
host's, so a "connected" kit reaches a broker on 127.0.0.1; the access point's address is
127.0.0.1 too, so its portal can be opened from the test machine::

    import network
    network.NETWORKS["home"] = "secret123"
    sta = network.WLAN(network.WLAN.IF_STA); sta.active(True); sta.connect("home", "secret123")
    sta.isconnected()      # True
"""

NETWORKS = {}
RSSI = -61

STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
AUTH_OPEN = 0
AUTH_WPA2_PSK = 3
STA_IF = 0
AP_IF = 1


class WLAN:
    IF_STA = 0
    IF_AP = 1

    def __init__(self, interface=0):
        self.interface = interface
        self._active = False
        self._status = STAT_IDLE
        self._config = {"ssid": "", "key": "", "security": AUTH_OPEN}

    def active(self, on=None):
        if on is None:
            return self._active
        self._active = bool(on)
        if not on:
            self._status = STAT_IDLE

    def connect(self, ssid=None, key=None):
        if self.interface != WLAN.IF_STA:
            raise OSError("only a station connects")
        if not self._active:
            raise OSError("Wifi Not Started")
        if ssid not in NETWORKS:
            self._status = STAT_NO_AP_FOUND
        elif (NETWORKS[ssid] or "") != (key or ""):
            self._status = STAT_WRONG_PASSWORD
        else:
            self._status = STAT_GOT_IP
            self._config["ssid"] = ssid

    def disconnect(self):
        self._status = STAT_IDLE

    def isconnected(self):
        if self.interface == WLAN.IF_AP:
            return self._active
        # The network can vanish while connected (a test removes it from NETWORKS).
        return self._status == STAT_GOT_IP and self._config["ssid"] in NETWORKS

    def status(self, param=None):
        if param == "rssi":
            if not self.isconnected():
                raise OSError("not connected")
            return RSSI
        return self._status

    def config(self, *args, **kwargs):
        if args:
            return self._config[args[0]]
        for key, value in kwargs.items():
            self._config["ssid" if key == "essid" else key] = value

    def ifconfig(self, *args):
        return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")

    def scan(self):
        return [(ssid.encode(), b"\x00" * 6, 1, RSSI, 3, False) for ssid in NETWORKS]
