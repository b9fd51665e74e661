"""Where the archive keeps what: UTC days and months as epoch seconds, and file names.

Days are UTC days, the days of the export's UTC timestamps: a file holds exactly the rows
that ``/v1/export/readings.csv?from=<day>&to=<next day>`` gives.

>>> day_file(1795824000)
'daily/readings-2026-11-28.csv.gz'
>>> month_of(1795824000), month_file(month_of(1795824000), "pm25")
(1793491200, 'monthly/readings-2026-11-pm25.parquet')
>>> next_month(1793491200) - 1793491200 == 30 * 86400
True
"""

from __future__ import annotations

from datetime import UTC, date, datetime

DAY = 86400
SUMS = "SHA256SUMS"
INDEX = "index.jsonld"
# Kept beside the files, never published (the server refuses names starting with '.'):
# each day's and month's fingerprint from the last run, to tell what changed.
STATE = ".archive-state.json"
LOCK = ".archive-lock"  # held by the run writing the folder


def day_text(day: int) -> str:
    return datetime.fromtimestamp(day, UTC).strftime("%Y-%m-%d")


def day_file(day: int) -> str:
    return f"daily/readings-{day_text(day)}.csv.gz"


def month_of(moment: int) -> int:
    moment_date = datetime.fromtimestamp(moment, UTC)
    return int(datetime(moment_date.year, moment_date.month, 1, tzinfo=UTC).timestamp())


def next_month(month: int) -> int:
    first = datetime.fromtimestamp(month, UTC)
    year, index = divmod(first.month, 12)
    return int(datetime(first.year + year, index + 1, 1, tzinfo=UTC).timestamp())


def month_file(month: int, quantity: str) -> str:
    return f"monthly/readings-{datetime.fromtimestamp(month, UTC):%Y-%m}-{quantity}.parquet"


def day_start(value: date) -> int:
    return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())
