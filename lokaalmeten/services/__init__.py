"""Start the servers lokaalmeten talks to (Mosquitto, an embedded broker) on loopback.

The demo, the test fixtures and the benchmarks use the same launchers, so that what the tests
start is what a user's ``make run`` starts.
"""
