"""The reading protocol shared by firmware, gateway and server: quantities, records, topics."""
