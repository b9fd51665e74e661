"""Benchmarks: `make bench` (python -m bench [NAME ...]) runs them and updates docs/benchmarks.md.

Each benchmark module has ``NAME``, ``TITLE`` and ``run(work: Path) -> str`` returning a
Markdown section; figures are measured in one run on this machine, with ratios to a
reference measured in the same run.
"""
