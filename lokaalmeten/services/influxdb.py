"""InfluxDB 1.x (Debian's influxd) on loopback ports, data in its own folder.

The configuration carries the query guardrails the guide asks for: one unbounded
``GROUP BY time()`` once drove influxd to 24 GB and an OOM kill.

    influx = InfluxDB.start(Path("/tmp/run/influx"))
    ...  # influx.url == "http://127.0.0.1:<port>"
"""

from __future__ import annotations

from pathlib import Path

from lokaalmeten.services.local_server import LocalServer
from lokaalmeten.services.ports import free_port

GUARDRAILS = {
    "max-select-buckets": 100_000,
    "max-select-point": 50_000_000,
    "query-timeout": '"60s"',
}


class InfluxDB(LocalServer):
    binary_name = "influxd"
    debian_package = "influxdb"
    start_timeout = 30.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def command(cls, binary: str, folder: Path, port: int, **options: object) -> list[str]:
        root = folder.resolve()
        coordinator = "\n".join(f"  {key} = {value}" for key, value in GUARDRAILS.items())
        config = f"""\
reporting-disabled = true
bind-address = "127.0.0.1:{free_port()}"
[meta]
  dir = "{root}/meta"
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
[coordinator]
{coordinator}
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{port}"
  log-enabled = false
[logging]
  level = "warn"
  suppress-logo = true
"""
        path = folder / "influxdb.conf"
        path.write_text(config)
        return [binary, "-config", str(path)]
