"""From throughput to money and energy: cost per 1M items, items per kWh, joules per item.

    cost_per_1M = price_per_hour / 3600 * 1e6 / throughput

is the formula AWS Neuron's performance pages use ("Cost per 1M inferences"); for an LLM the item
is an output token (MLPerf's convention: output tokens/s, prefill included in the time but not
in the count).
"""

from __future__ import annotations

from inferlab.hw.roofline import _check

__all__ = ["cost_per_million", "items_per_kwh", "joules_per_item"]


_positive = _check  # a positive finite number, or a clear InvalidValueError


def cost_per_million(price_per_hour: float, items_per_second: float) -> float:
    """USD per 1M items (inferences, tokens) at a sustained ``items_per_second``.

    price_per_hour: USD per hour for the whole machine that produces ``items_per_second``.
    """
    price = _positive("price_per_hour (USD/h)", price_per_hour)
    rate = _positive("items_per_second", items_per_second)
    return price / 3600 * 1e6 / rate


def joules_per_item(watts: float, items_per_second: float) -> float:
    """Energy per item (J) at ``watts`` of power: W = J/s, so J/item = W / (items/s)."""
    return _positive("watts", watts) / _positive("items_per_second", items_per_second)


def items_per_kwh(watts: float, items_per_second: float) -> float:
    """Items per kilowatt-hour (1 kWh = 3.6e6 J)."""
    return 3.6e6 / joules_per_item(watts, items_per_second)
