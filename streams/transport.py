"""Faust's aiokafka transport with an idempotent producer (`cfkafka://` broker URLs).

Faust only turns idempotence on inside its exactly-once mode, which the worker does not
use (it has open bugs; correctness comes from the engine's idempotency instead).
Idempotence keeps retried batches from being written twice or out of order, which the
changelog runs of `streams.rocks` rely on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as driver


class IdempotentProducer(driver.Producer):
    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


class Transport(driver.Transport):
    Producer = IdempotentProducer


TRANSPORTS.aliases["cfkafka"] = f"{__name__}:Transport"
