from __future__ import annotations

import pytest


@pytest.fixture(params=["h11", "httptools"])
def http_backend(request: pytest.FixtureRequest) -> str:
    """Every HTTP behaviour is tested on both parser backends."""
    return str(request.param)
