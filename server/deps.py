"""Dependencies the routers share: the settings, the (read-only) store and the (read-only)
node directory."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from lokaalmeten.gateway.alert_book import AlertReader
from lokaalmeten.gateway.directory import DirectoryReader
from lokaalmeten.settings import ServerSettings
from lokaalmeten.store import Store


def get_settings(request: Request) -> ServerSettings:
    settings: ServerSettings = request.app.state.settings
    return settings


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_directory(request: Request) -> DirectoryReader:
    directory: DirectoryReader = request.app.state.directory
    return directory


def get_alerts(request: Request) -> AlertReader:
    alerts: AlertReader = request.app.state.alerts
    return alerts


SettingsDep = Annotated[ServerSettings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
DirectoryDep = Annotated[DirectoryReader, Depends(get_directory)]
AlertsDep = Annotated[AlertReader, Depends(get_alerts)]
