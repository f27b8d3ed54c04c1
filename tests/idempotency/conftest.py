from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.idempotency import urls


@pytest.fixture(autouse=True)
def _fresh_test_views() -> Iterator[None]:
    urls.handler_calls.clear()
    urls.slow_view_may_finish.clear()
    yield
    urls.slow_view_may_finish.set()  # never leave a live-server thread waiting
