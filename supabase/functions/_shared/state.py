"""What the running app holds, typed: built once at startup (app.py's lifespan), read by handlers through
`app_state(request)`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
from starlette.requests import Request

from thinbase.db import Database
from thinbase.settings import Settings

if TYPE_CHECKING:  # the modules below import this one's users; names only, for the annotations
    from thinbase.functions._shared.auth import Authenticator
    from thinbase.functions._shared.catalog import Catalog
    from thinbase.functions.avatar.storage import AvatarStorage
    from thinbase.functions.payments.providers.base import Provider


@dataclass
class AppState:
    settings: Settings
    database: Database
    catalog: Catalog
    http: httpx.Client  # outbound calls not yet async (thinbase.upstream.send); each sets its own timeout
    async_http: httpx.AsyncClient  # outbound calls on the request path (upstream.asend)
    authenticator: Authenticator
    providers: dict[str, Provider]  # the configured payment providers, by name
    avatar_storage: AvatarStorage | None  # None: neither Supabase Storage nor the local stack


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.thinbase
    return state
