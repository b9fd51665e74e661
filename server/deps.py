"""Dependencies the routers share: the settings and the (read-only) store."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from lokaalmeten.settings import ServerSettings
from lokaalmeten.store import Store


def get_settings(request: Request) -> ServerSettings:
    settings: ServerSettings = request.app.state.settings
    return settings


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


SettingsDep = Annotated[ServerSettings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
