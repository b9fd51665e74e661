"""Settings of the gateway and the server, in one typed place.

Every setting has a default stated once here. The installation's configuration file
(``/etc/lokaalmeten/lokaalmeten.env``, or the file named by ``LM_CONFIG``) overrides it, an
``LM_…`` environment variable overrides the file, and the matching command-line option
overrides all: so every command, whoever runs it and from wherever, finds the same
installation. ``docs/configuration.md`` is checked against these classes by the tests::

    >>> GatewaySettings(broker="mqtt://127.0.0.1:1884").broker_address.port
    1884
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import unquote, urlsplit

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from lokaalmeten.calibration.humidity import MAX_HUMIDITY
from lokaalmeten.protocol.topics import DEFAULT_PREFIX
from lokaalmeten.readings import FLAG_NAMES

S = TypeVar("S", bound=BaseSettings)
# A CSP frame-ancestors source: *, 'none', 'self', or a scheme with a host (and port).
_FRAME_SOURCE = re.compile(r"\*|'none'|'self'|https?://(\*\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?")

# The installed layout (gateway/install.py writes it); no default is relative to the folder
# a command happens to be run from.
STATE_DIR = Path("/var/lib/lokaalmeten")
DEFAULT_STORE = f"sqlite://{STATE_DIR}/readings.db"
INSTALLED_CONFIG = Path("/etc/lokaalmeten/lokaalmeten.env")
CONFIG_VARIABLE = "LM_CONFIG"
# Names no longer read, with where their value goes now: one LM_HTTP_PORT used to move the
# gateway's ingest and the server onto the same port.
RETIRED = {
    "LM_HTTP_PORT": "LM_INGEST_PORT (the gateway's HTTP ingest) or LM_SERVER_PORT (the server)",
    "LM_HTTP_HOST": "LM_INGEST_HOST (the gateway's HTTP ingest)",
    "LM_HOST": "LM_SERVER_HOST (the open-data server)",
}


class SettingsError(ValueError):
    """A setting that cannot be used, said in the words the user set it with."""


def config_file() -> Path | None:
    """The configuration file every command reads: ``LM_CONFIG`` if set (``none``: no file),
    else the installation's, if this machine has one."""
    named = os.environ.get(CONFIG_VARIABLE)
    if named is not None:
        if named.strip().lower() in ("", "none"):
            return None
        path = Path(named)
        if not path.is_file():
            raise SettingsError(
                f"{CONFIG_VARIABLE}={named}: no such file (LM_CONFIG=none reads no file)"
            )
        return path
    return INSTALLED_CONFIG if INSTALLED_CONFIG.is_file() else None


def config_values(path: Path | None) -> dict[str, str]:
    """The ``LM_`` variables of a configuration file, refusing retired and unknown names."""
    if path is None:
        return {}
    try:
        raw = dotenv_values(path)
    except OSError as exc:
        raise SettingsError(
            f"cannot read the configuration {path}: {exc.strerror}; run the command as root "
            "or as the service user (sudo -u lokaalmeten ...)"
        ) from None
    values = {key: value or "" for key, value in raw.items()}
    known = {CONFIG_VARIABLE} | {
        f"LM_{name.upper()}"
        for cls in (GatewaySettings, ServerSettings)
        for name in cls.model_fields
    }
    for key in values:
        if key in RETIRED:
            raise SettingsError(f"{key} in {path} is no longer read: set {RETIRED[key]}")
        if key not in known:
            raise SettingsError(f"{key} in {path} is not a setting (docs/configuration.md)")
    return values


def retired_variables() -> None:
    for key, instead in RETIRED.items():
        if key in os.environ:
            raise SettingsError(f"{key} is no longer read: set {instead}")


def load_settings(cls: type[S], flags: dict[str, str] | None = None, **overrides: Any) -> S:
    """Settings from the options given (None: not given), the environment and the
    configuration file; every problem raised as one :class:`SettingsError`. ``flags``: the
    command-line option of a setting whose name differs from ``--setting-name``."""
    try:
        return cls(**{key: value for key, value in overrides.items() if value is not None})
    except ValidationError as exc:
        raise SettingsError(settings_problems(exc, flags)) from None


def refuse_outside_installation(settings: BaseSettings, *names: str) -> None:
    """Refuse a store, spool or registry file that does not exist yet when the installation
    names another: a command run with the wrong option, or from the wrong folder, would
    otherwise start a new empty one beside the real one."""
    from lokaalmeten.store import sqlite_file

    path = config_file()
    if path is None:
        return
    values = config_values(path)
    for name in names:
        given = getattr(settings, name)
        field = type(settings).model_fields[name]
        installed = values.get(f"LM_{name.upper()}", field.default)
        if name == "store":
            given, installed = sqlite_file(given), sqlite_file(installed)
        if given is None or installed is None:
            continue
        if Path(given).absolute() == Path(installed).absolute() or Path(given).exists():
            continue
        variable = f"LM_{name.upper()}"
        origin = variable if variable in os.environ else f"--{name}"
        raise SettingsError(
            f"no {name} at {Path(given).absolute()} ({origin}), and the installation "
            f"({path}) uses {installed}: leave out {origin} to use it, or set "
            f"{CONFIG_VARIABLE}=none to work apart from the installation"
        )


class InstallationSource(PydanticBaseSettingsSource):
    """The configuration file's values of one settings class; the environment wins."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        retired_variables()
        values = config_values(config_file())
        found: dict[str, Any] = {}
        for name in self.settings_cls.model_fields:
            key = f"LM_{name.upper()}"
            if key in values and key not in os.environ:
                found[name] = values[key]
        return found


class _Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LM_", extra="forbid")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, InstallationSource(settings_cls)


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None
    password: str | None


def parse_broker_url(url: str) -> BrokerAddress:
    """``mqtt://[user[:password]@]host[:port]``; raises ValueError saying what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != "mqtt":
        raise ValueError(f"{url!r}: a broker URL starts with mqtt://, e.g. mqtt://127.0.0.1:1883")
    if not parts.hostname:
        raise ValueError(f"{url!r}: the broker URL names no host, e.g. mqtt://127.0.0.1:1883")
    try:
        port = parts.port or 1883
    except ValueError:
        raise ValueError(f"{url!r}: the port must be a number from 1 to 65535") from None
    return BrokerAddress(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


class GatewaySettings(_Settings):
    """The gateway: MQTT in, validated readings out to the store."""

    broker: str = Field(
        "mqtt://127.0.0.1:1883",
        description="MQTT broker the kits publish to, mqtt://[user[:password]@]host[:port].",
    )
    store: str = Field(
        DEFAULT_STORE,
        description="Where readings are stored: sqlite:///absolute/path.db, sqlite:rel.db or "
        "influxdb://host:port/database.",
    )
    client_id: str = Field(
        "lokaalmeten-gateway",
        description=(
            "MQTT client id. Fixed, so the broker keeps the gateway's session (and the "
            "messages not yet stored) while the gateway is away."
        ),
    )
    topic_prefix: str = Field(DEFAULT_PREFIX, description="First level of every kit topic.")
    mqtt_password: SecretStr | None = Field(
        None, description="MQTT password, if not given in the broker URL."
    )
    extra_stores: Annotated[list[str], NoDecode] = Field(
        [],
        description=(
            "More stores that receive every reading too, comma-separated; each drains the "
            "spool at its own pace."
        ),
    )
    spool: str = Field(
        str(STATE_DIR / "spool.db"),
        description=(
            "SQLite file of the spool: readings wait here, durably, until every store has "
            "them; refused input is kept in its quarantine table."
        ),
    )
    spool_max_readings: int = Field(
        5_000_000, ge=1000, description="Most readings the spool holds (about 100 bytes each)."
    )
    spool_full_policy: Literal["block", "drop_oldest"] = Field(
        "block",
        description=(
            "When the spool is full: 'block' stops acknowledging (the broker keeps the "
            "messages, HTTP kits get 503 and retry); 'drop_oldest' deletes the oldest readings."
        ),
    )
    spool_synchronous: Literal["full", "normal"] = Field(
        "full",
        description=(
            "'full' makes each spool commit survive power loss before it is acknowledged; "
            "'normal' survives crashes of the program only, and is faster on an SD card."
        ),
    )
    registry: str = Field(
        str(STATE_DIR / "registry.db"),
        description="SQLite file of the kit registry and the node directory.",
    )
    mosquitto_dir: str = Field(
        "",
        description="Folder of Mosquitto's passwd and acl files that `nodes add/rotate/remove` "
        "rewrite from the registry; empty: they write none.",
    )
    require_registration: bool = Field(
        True,
        description=(
            "Refuse readings of nodes not in the registry (they go to the quarantine). Turn "
            "off only for a closed test network."
        ),
    )
    quality: bool = Field(
        True,
        description=(
            "Set quality flags at ingest (implausible, stuck, spike, high_humidity, "
            "warming_up; docs/quality.md); values are never changed."
        ),
    )
    quality_humidity: float = Field(
        # Where the humidity correction gives up (fog): below it a humid hour is corrected,
        # not dropped, so a Dutch winter's 85-95 % RH days keep their PM aggregates.
        MAX_HUMIDITY,
        ge=0,
        le=100,
        description="PM readings made while the relative humidity (%) is at or above this "
        "are flagged high_humidity and left out of aggregates; the default is where the "
        "humidity correction stops (docs/calibration.md).",
    )
    quality_neighbour_km: float = Field(
        2.0,
        ge=0,
        le=100,
        description="Kits with a known place within this many km are neighbours: a jump they "
        "share is weather, not a spike; 0 compares each kit only with itself.",
    )
    ingest_host: str = Field(
        "0.0.0.0", description="Address of the gateway's HTTP ingest, /health and /metrics."
    )
    ingest_port: int = Field(
        8081, ge=0, le=65535, description="Port of the gateway's HTTP ingest; 0 turns it off."
    )
    batch_size: int = Field(
        5000,
        ge=1,
        le=100_000,
        description="Most MQTT messages committed to the spool (and acknowledged) at once.",
    )
    batch_wait: float = Field(
        0.1,
        gt=0,
        le=60,
        description="Seconds a batch waits for more messages after its first, when none were "
        "waiting (messages already waiting are committed at once).",
    )
    write_wait: float = Field(
        0.5,
        ge=0,
        le=60,
        description="Seconds a store's writer lets readings gather after a small batch "
        "(under a tenth of write_batch), so that a trickle goes out in one write, not one per "
        "batch received; a backlog is written without waiting (0: never wait).",
    )
    write_batch: int = Field(
        5000, ge=1, le=100_000, description="Most readings written to a store in one request."
    )
    mqtt_process: bool = Field(
        True,
        description="Receive and acknowledge MQTT messages in a process of their own, on "
        "another core than the validation and the spool (off: a thread of the gateway's "
        "process).",
    )
    writer_processes: bool = Field(
        True,
        description="Write each store from a process of its own, on another core than the "
        "ingest (off: from threads of the gateway's process, one core for all).",
    )
    stats_interval: float = Field(
        60, gt=0, description="Seconds between log lines with the gateway's counters."
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines as text, or as one JSON object per line."
    )
    # Kit-health alerts (gateway/alerts.py, docs/gateway.md#alerts).
    alert_offline_intervals: int = Field(
        4,
        ge=1,
        le=1000,
        description="A kit is offline (and a quantity it still sends others beside, a dead "
        "sensor) after this many of its measurement intervals without a reading.",
    )
    alert_interval: float = Field(
        145,
        gt=0,
        description="Seconds between a kit's readings when the node directory names no "
        "interval; the offline and dead-sensor alerts count in it.",
    )
    alert_flags: Annotated[list[str], NoDecode] = Field(
        ["implausible", "spike"],
        description="Quality flags that count towards a persistent-flag alert, "
        "comma-separated (high_humidity is left out by default: fog is weather, not a "
        "broken kit).",
    )
    alert_flag_share: float = Field(
        0.5,
        gt=0,
        lt=1,
        description="A quantity of a kit whose readings of the last hour carry those flags "
        "more often than this share raises a persistent-flag alert.",
    )
    alert_flag_min_readings: int = Field(
        4, ge=1, description="Fewest readings in the hour before that share is judged."
    )
    alert_check_interval: float = Field(
        30, gt=0, le=3600, description="Seconds between evaluations of the alert rules."
    )
    alert_webhook: str = Field(
        "",
        description="URL the alert events are POSTed to as JSON (header Idempotency-Key: "
        "the event id), retried until it answers 2xx; empty: no webhook.",
    )
    alert_retry_max: float = Field(
        300,
        gt=0,
        description="Longest wait, in seconds, between retries of an alert delivery (the "
        "wait doubles from 1 s up to this).",
    )
    alert_mqtt: bool = Field(
        True,
        description="Also publish alert events to `<topic_prefix>/<node>/alerts` (QoS 1).",
    )
    # LoRaWAN kits through The Things Stack (docs/gateway.md, "LoRaWAN").
    lorawan_applications: Annotated[dict[str, str], NoDecode] = Field(
        {},
        description="The Things Stack applications whose webhook may POST uplinks to "
        "/lorawan/ttn, each with the secret its webhook sends in the header "
        "`X-Lokaalmeten-Secret`: `application-id=secret`, comma-separated. Empty: the "
        "endpoint is off.",
    )
    lorawan_storage: Annotated[dict[str, str], NoDecode] = Field(
        {},
        description="Applications whose uplinks the gateway also fetches from The Things "
        "Stack's Storage Integration, to fill what the webhook missed: `application-id=API "
        "key` (a key with the right to read the application's traffic), comma-separated. "
        "Empty: no back-fill.",
    )
    lorawan_storage_url: str = Field(
        "https://eu1.cloud.thethings.network",
        description="The Things Stack's address for the Storage Integration (its cluster).",
    )
    lorawan_backfill_interval: float = Field(
        900, gt=0, description="Seconds between back-fills (one runs at start)."
    )
    lorawan_backfill_window: int = Field(
        86400,
        gt=0,
        description="How far back, in seconds, a first back-fill reaches (the Storage "
        "Integration keeps 24 hours on The Things Network's community tier).",
    )
    # Firmware updates of the kits (docs/fleet.md).
    releases: str = Field(
        str(STATE_DIR / "releases"),
        description="Folder of the firmware releases (`lokaalmeten fleet release`) that the "
        "HTTP ingest serves at /fleet/ to the kits a rollout offers them to.",
    )
    rollout: str = Field(
        str(STATE_DIR / "fleet" / "rollout.json"),
        description="The rollout's state (the release offered, to which kits, paused or not), "
        "written by `lokaalmeten fleet rollout/pause/resume` and by the gateway's health gate.",
    )

    @field_validator("extra_stores", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("lorawan_applications", "lorawan_storage", mode="before")
    @classmethod
    def _applications(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        found: dict[str, str] = {}
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            application, sep, secret = part.partition("=")
            if not sep or not application.strip() or len(secret.strip()) < 16:
                raise ValueError(
                    "give application-id=secret pairs, comma-separated, each secret (or API "
                    f"key) of at least 16 characters (got {application.strip() or part!r})"
                )
            found[application.strip()] = secret.strip()
        return found

    @field_validator("alert_flags", mode="before")
    @classmethod
    def _flag_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("alert_flags")
    @classmethod
    def _known_flags(cls, value: list[str]) -> list[str]:
        names = [name for _, name in FLAG_NAMES]
        unknown = [flag for flag in value if flag not in names]
        if unknown:
            raise ValueError(f"unknown flag {', '.join(unknown)}; the flags are {', '.join(names)}")
        return value

    @field_validator("alert_webhook")
    @classmethod
    def _webhook_is_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if value and (parts.scheme not in ("http", "https") or not parts.hostname):
            raise ValueError(
                f"{value!r}: the webhook is an http:// or https:// URL, "
                "e.g. https://example.org/hooks/lokaalmeten"
            )
        return value

    @field_validator("broker")
    @classmethod
    def _broker_is_url(cls, value: str) -> str:
        parse_broker_url(value)
        return value

    @property
    def broker_address(self) -> BrokerAddress:
        address = parse_broker_url(self.broker)
        if address.password is None and self.mqtt_password is not None:
            return BrokerAddress(
                address.host, address.port, address.username, self.mqtt_password.get_secret_value()
            )
        return address


class ServerSettings(_Settings):
    """The open-data server: reads the store, answers HTTP."""

    store: str = Field(DEFAULT_STORE, description="The store to read, as for the gateway.")
    registry: str = Field(
        str(STATE_DIR / "registry.db"),
        description="The gateway's registry, whose node directory names and places the kits "
        "(read only).",
    )
    calibration: str = Field(
        "",
        description="SQLite file of the calibration book: imported reference-station series "
        "and co-location fits (docs/calibration.md); empty: calibration.db beside the registry.",
    )
    pm_kappa: float = Field(
        0.4,
        ge=0,
        le=1.5,
        description="Hygroscopicity κ of the humidity correction of PM (κ-Köhler, Crilley et "
        "al. 2018); 0.4 for mixed urban aerosol.",
    )
    calibration_radius: float = Field(
        2000,
        gt=0,
        le=50_000,
        description="Metres from a reference station within which `calibrate fit` fits a kit.",
    )
    server_host: str = Field("127.0.0.1", description="Address the open-data server listens on.")
    server_port: int = Field(
        8000, ge=1, le=65535, description="Port the open-data server listens on."
    )
    server_workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Worker processes serving the API on one socket (`--workers`); about one "
        "per core. They share the rate limit; each has its own admission and live-stream "
        "counts (docs/api.md, Production start).",
    )
    trusted_proxies: str = Field(
        "127.0.0.1",
        description="Addresses (or networks, or `*`) of reverse proxies whose "
        "X-Forwarded-For names the client the rate limit and admission count; "
        "comma-separated; empty: none, every client is the address it connects from.",
    )
    store_check_interval: float = Field(
        5,
        gt=0,
        description="Seconds between the server's pings of its store; an unreachable store "
        "is warned about at once and every 30 s, and /health answers 503 meanwhile.",
    )
    max_series_points: int = Field(
        500_000,
        ge=1,
        description="Most readings one /v1/series answer may hold (a month of one kit at a "
        "reading a minute for ten quantities is 432,000).",
    )
    max_limit: int = Field(
        10_000, ge=1, description="Most readings one request may ask for (the limit parameter)."
    )
    default_limit: int = Field(1000, ge=1, description="Readings per page when none is asked.")
    max_range_days: int = Field(
        366, ge=1, description="Longest time range, in days, one readings request may span."
    )
    max_points: int = Field(
        100_000,
        ge=1,
        description="Most aggregate windows (nodes x quantities x windows) one request may ask "
        "for, and most observations one SensorThings request may examine.",
    )
    max_radius_m: float = Field(
        50_000, gt=0, description="Largest radius, in metres, of a `near` area filter."
    )
    location_decimals: int = Field(
        3,
        ge=0,
        le=6,
        description="Decimals home locations are rounded to wherever they leave the server "
        "(3 is about 100 m); a node whose owner chose exact publication is not rounded.",
    )
    measurement_interval: float = Field(
        145,
        gt=0,
        description="Seconds between a kit's readings when its metadata names no interval; "
        "coverage and online status are computed from it.",
    )
    noise_threshold_db: float = Field(
        55.0,
        ge=0,
        le=140,
        description="dB(A): the noise indicators count the hours of a day whose LAeq is above "
        "this level (hours_above; 55 is the lowest Lden band Directive 2002/49/EC's noise maps "
        "report).",
    )
    rate_limit: int = Field(
        600, ge=0, description="Requests per minute one client address may make (0: no limit)."
    )
    max_query_length: int = Field(
        8000,
        ge=100,
        description="Most characters of a request's whole query string, as sent (percent-encoded).",
    )
    sta_max_filter_length: int = Field(
        2000, ge=10, description="Most characters of a SensorThings $filter (or $orderby)."
    )
    sta_max_filter_terms: int = Field(
        100,
        ge=1,
        description="Most operands (names, literals, function calls) in one $filter "
        "or $orderby expression.",
    )
    sta_max_filter_depth: int = Field(
        16,
        ge=1,
        le=64,
        description="Deepest nesting of parentheses, function calls and `not` in a $filter.",
    )
    sta_max_expand_depth: int = Field(
        3, ge=1, le=10, description="Deepest nesting of a SensorThings $expand."
    )
    sta_max_expand_top: int = Field(
        1000, ge=1, description="Largest $top inside an $expand (default there: 100)."
    )
    sta_max_entities: int = Field(
        20_000,
        ge=1,
        description="Most entities one SensorThings answer may imply: the product of the "
        "page sizes of the request and of its expansions.",
    )
    sta_max_skip: int = Field(
        10_000,
        ge=0,
        description="Largest SensorThings $skip; deeper pages follow @iot.nextLink, whose "
        "$skiptoken continues where the last page ended.",
    )
    query_time_limit: float = Field(
        10,
        gt=0,
        description="Seconds a request may work before it stops and answers 503 with "
        "Retry-After (a CSV export, once it streams, runs as long as the client reads).",
    )
    max_heavy_per_client: int = Field(
        2,
        ge=0,
        description="Requests that read readings (readings, aggregates, export, SensorThings) "
        "one client address may have running at once; beyond: 429 (0: no limit).",
    )
    max_heavy_total: int = Field(
        2,
        ge=0,
        description="Such requests running at once from all clients; beyond: 503 with "
        "Retry-After, so that light requests (nodes, metadata) stay fast (0: no limit). One "
        "server process runs Python on one core at a time: more at once only share it.",
    )
    max_stream_clients: int = Field(
        50,
        ge=1,
        description="Live-stream subscribers (/v1/stream) at once; beyond: 503 with "
        "Retry-After. Counted apart from the requests for readings: a subscriber waits far "
        "more than it works.",
    )
    stream_heartbeat_s: float = Field(
        15.0,
        gt=0,
        le=300,
        description="Seconds between the live stream's heartbeat comments, which keep a quiet "
        "stream open through proxies that close a silent connection (often after 60 s) and "
        "tell a filtered subscriber the position reached.",
    )
    live_poll_s: int = Field(
        30,
        ge=1,
        le=3600,
        description="Seconds between the public pages' polls of /v1/latest where the live "
        "stream is refused (a store without a change log, a full server).",
    )
    licence: Literal["CC0-1.0", "CC-BY-4.0"] = Field(
        "CC0-1.0", description="Licence of the published data (SPDX id)."
    )
    publisher: str = Field(
        "lokaalmeten network", description="Who publishes the dataset (DCAT publisher)."
    )
    contact_email: str = Field(
        "", description="Contact point of the dataset (DCAT contactPoint); empty: none stated."
    )
    archive_folder: str = Field(
        "",
        description="Folder of the bulk archive (daily CSV, monthly Parquet, SHA256SUMS, "
        "index.jsonld) that `lokaalmeten archive` writes and the server publishes at "
        "/archive/ (docs/archive.md); empty: no archive is served, and the command asks "
        "for --folder.",
    )
    tile_url: str = Field(
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        description="Map tiles of the public page ({z}/{x}/{y} template); empty: no tiles, "
        "the kits are drawn on a plain background.",
    )
    tile_attribution: str = Field(
        "© OpenStreetMap contributors",
        description="Attribution shown on the map for the tiles (required by most tile servers).",
    )
    embed_ancestors: str = Field(
        "*",
        description="Sites that may show a kit's chart widget (/embed/kits/{node}) in an "
        "iframe: the Content-Security-Policy frame-ancestors sources, space-separated, e.g. "
        "`https://www.utrecht.nl https://*.utrecht.nl`; `*` any site, `'none'` no site. Every "
        "other page refuses to be framed.",
    )

    @field_validator("embed_ancestors")
    @classmethod
    def _frame_sources(cls, value: str) -> str:
        # Each source goes into a header as it is: nothing that could end the directive.
        bad = [s for s in value.split() if not _FRAME_SOURCE.fullmatch(s)]
        if bad or not value.split():
            raise ValueError(
                f"not a frame-ancestors source: {' '.join(bad) or repr(value)}; give origins "
                "such as https://www.example.nl or https://*.example.nl, or * or 'none'"
            )
        return " ".join(value.split())

    @property
    def calibration_path(self) -> Path:
        """The calibration book: the setting, else calibration.db beside the registry."""
        if self.calibration:
            return Path(self.calibration)
        return Path(self.registry).with_name("calibration.db")

    @model_validator(mode="after")
    def _default_within_max(self) -> ServerSettings:
        if self.default_limit > self.max_limit:
            raise ValueError(
                f"default_limit ({self.default_limit}) may not exceed max_limit ({self.max_limit})"
            )
        return self


def settings_table(settings_class: type[BaseSettings]) -> str:
    """A Markdown table of a settings class: option, environment variable, default, meaning."""
    rows = ["| setting | environment | default | meaning |", "|---|---|---|---|"]
    for name, info in settings_class.model_fields.items():
        default = "(none)" if info.default is None else f"`{info.default}`"
        rows.append(f"| `{name}` | `LM_{name.upper()}` | {default} | {info.description} |")
    return "\n".join(rows)


def render_configuration_doc(template: str) -> str:
    """Fill the generated tables of docs/configuration.md between their markers."""
    for marker, settings_class in (("gateway", GatewaySettings), ("server", ServerSettings)):
        start = f"<!-- settings:{marker} -->\n"
        end = "<!-- /settings -->"
        head, rest = template.split(start, 1)
        _, tail = rest.split(end, 1)
        template = f"{head}{start}{settings_table(settings_class)}\n{end}{tail}"
    return template


if __name__ == "__main__":
    from pathlib import Path

    doc = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
    doc.write_text(render_configuration_doc(doc.read_text()))
    print(f"wrote {doc}")


def settings_problems(exc: ValidationError, flags: dict[str, str] | None = None) -> str:
    """One line per bad setting, named as the user set it: the LM_ variable, the line of the
    configuration file, or else the command-line option."""
    try:
        path = config_file()
        in_file = config_values(path)
    except SettingsError:
        path, in_file = None, {}
    problems = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        if not error["loc"]:
            problems.append(message)
            continue
        name = str(error["loc"][0])
        variable = f"LM_{name.upper()}"
        if variable in os.environ:
            where = variable
        elif variable in in_file:
            where = f"{variable} in {path}"
        else:
            where = (flags or {}).get(name, f"--{name.replace('_', '-')}")
        given = f" = {error['input']!r}" if isinstance(error.get("input"), str | int) else ""
        problems.append(f"{where}{given}: {message}")
    return "; ".join(problems)
