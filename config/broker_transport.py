"""The Redis broker transport Celery uses for `redis://` brokers: kombu's own, with one fix.

When the connection to Redis drops while tasks are in flight (an `acks_late` task running,
messages reserved), Celery 5.7's consumer closes the broken connection, whose channel then
tries to put the unacknowledged messages back in Redis through a connection already torn down
(kombu 5.7: `AttributeError: 'NoneType' object has no attribute 'hostname'`). That error is
not one of the connection errors Celery expects there, so the worker stops ("Unrecoverable
error") instead of reconnecting: a Redis restart would take every busy worker down with it.

Here a channel whose connection is gone raises a connection error instead, which Celery
ignores while closing; it then reconnects. The messages that could not be put back stay in
Redis's unacknowledged set and are redelivered after the visibility timeout
(CELERY_BROKER_VISIBILITY_TIMEOUT_SECONDS), as after a lost worker. Covered by
tests/reliability/test_outages.py (Redis restarted under a busy worker).
"""

from __future__ import annotations

from typing import Any

import redis
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:
            raise redis.ConnectionError("the broker connection is closed")
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]


class Transport(kombu_redis.Transport):
    Channel = Channel
