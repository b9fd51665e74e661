"""The bulk archive: one gzipped CSV per UTC day, one Parquet file per month and quantity,
their SHA-256 sums and a DCAT index, in a folder the server publishes at ``/archive/``.

    summary = build_archive(store, places, Path("/var/lib/lokaalmeten/archive"), plan)

The parts, one job each: :mod:`.layout` (which files a day and a month make),
:mod:`.fingerprint` (whether the store's readings of a day changed since the last run),
:mod:`.files` (deterministic, atomic writing), :mod:`.csvday` and :mod:`.parquet` (the two
formats), :mod:`.index` (SHA256SUMS and the DCAT JSON-LD index), :mod:`.build` (a run).

Nothing is imported here: every command of the program registers ``lokaalmeten archive``,
and the formats' modules (the server's CSV code, pyarrow) cost half a second to load, which
once delayed the gateway's start enough that the demo's server found no store.
"""
