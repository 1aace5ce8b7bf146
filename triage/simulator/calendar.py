"""The trading calendar: daily volume (weekday, seasonal peak, promotion events) and chunks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from triage.simulator import config as C

# UTC hour-of-day profile of a US retailer (evening peak falls after midnight UTC)
HOUR_W = np.array([8, 7, 5, 3.5, 2, 1.2, 0.8, 0.6, 0.7, 1, 1.6, 2.4, 3.2, 4, 4.6, 5, 5.4, 5.6, 5.8, 6, 6.4, 7, 7.6, 8.2])
HOUR_CUM = np.cumsum(HOUR_W) / HOUR_W.sum()


@dataclass
class Calendar:
    start_s: int
    days: int
    day_orders: np.ndarray  # orders per day (sums to the requested total)
    day_promo: np.ndarray  # promo code index of the day's event, -1 when none
    peak: np.ndarray  # seasonal peak intensity per day, 0..1
    disruption: tuple[int, int, int, int]  # carrier, node region, first day, last day

    def chunks(self, target: int) -> list[tuple[int, int]]:
        """Day-aligned [first, last) day ranges holding about `target` orders each."""
        out, first, acc = [], 0, 0
        for d in range(self.days):
            acc += int(self.day_orders[d])
            if acc >= target:
                out.append((first, d + 1))
                first, acc = d + 1, 0
        if first < self.days:
            out.append((first, self.days))
        return out


def build_calendar(rng: np.random.Generator, *, orders: int, days: int, start_s: int) -> Calendar:
    dates = np.datetime64(start_s, "s").astype("datetime64[D]") + np.arange(days)
    weekday = (dates.astype(np.int64) + 3) % 7  # Monday = 0
    doy = (dates - dates.astype("datetime64[Y]")).astype(np.int64)
    w = np.array([1.05, 1.0, 0.98, 1.0, 1.02, 0.92, 0.95])[weekday]
    # holiday peak from late November to Christmas
    peak = np.clip(1 - np.abs(doy - 340) / 28.0, 0, 1) ** 0.7
    w = w * (1 + 0.9 * peak) * (1 + 0.15 * np.sin(2 * np.pi * doy / 365.0 - 1.0))
    promo = np.full(days, -1, dtype=np.int64)
    # Black Friday weekend and Cyber Monday when they fall in the window
    for code, lo, hi in ((8, 331, 334), (9, 334, 336)):
        promo[(doy >= lo) & (doy < hi)] = code
    n_events = max(1, days // 35)
    event_codes = [2, 3, 4, 5, 6, 7, 10, 11, 12]
    for k in range(n_events):
        d0 = int(rng.integers(0, max(days - 2, 1)))
        length = int(rng.integers(2, 4))
        span = slice(d0, min(days, d0 + length))
        if (promo[span] < 0).all():
            promo[span] = event_codes[k % len(event_codes)]
    w = w * np.where(promo >= 0, np.where(promo == 8, 2.8, 2.1), 1.0)
    day_orders = rng.multinomial(orders, w / w.sum())
    dis_len = max(2, min(14, days // 4))
    dis_start = int(rng.integers(days // 3, max(days // 3 + 1, days - dis_len)))
    disruption = (C.SWIFTPOST, 2, dis_start, dis_start + dis_len)  # swiftpost, south
    return Calendar(start_s, days, day_orders, promo, peak, disruption)


def order_times(rng: np.random.Generator, cal: Calendar, day_counts: np.ndarray, first_day: int) -> np.ndarray:
    """Sorted creation times (epoch seconds) for the given number of orders per day."""
    day = np.repeat(np.arange(len(day_counts)) + first_day, day_counts)
    hour = np.searchsorted(HOUR_CUM, rng.random(len(day)), side="right")
    t = cal.start_s + day * C.DAY + hour * C.HOUR + rng.integers(0, C.HOUR, len(day))
    return np.sort(t)
