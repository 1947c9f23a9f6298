from __future__ import annotations

import pytest


@pytest.fixture(params=["websockets", "wsproto"])
def ws_backend(request: pytest.FixtureRequest) -> str:
    """Every WebSocket behaviour is tested on both frame backends."""
    return str(request.param)
