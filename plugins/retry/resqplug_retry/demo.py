"""The retry plugin's job in ``resqplug demo``: the core demo's flaky payment
job, with the timeouts retried. Imported only by the demo (its names would
otherwise be taken in every application)."""

from __future__ import annotations

import time

import resqplug


class PaymentAPITimeout(Exception):
    pass


class ChargeCard(resqplug.Job):
    """Calls a flaky payment API: every 7th order times out once, and is
    retried half a second later."""

    name = "retry.demo.ChargeCard"
    queue = "payments"
    retry_exceptions = {PaymentAPITimeout: 0.5}

    def perform(self, order_id: int, cents: int) -> str:
        time.sleep(0.002)
        if order_id % 7 == 0 and self.attempt == 1:
            raise PaymentAPITimeout(f"payment API timed out for order {order_id}")
        return f"charged {cents} cents"
