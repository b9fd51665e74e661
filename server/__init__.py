"""The open-data server: FastAPI over the store, one router per API family.

app = create_app(ServerSettings(store="sqlite:///var/lib/lokaalmeten/readings.db"))
"""
