"""The customer base: accounts and guest identities, created before and during the window.

Latent traits (activity, return propensity, serial returner, wardrober) never reach the
contract directly; they shape which orders and returns a customer produces.
"""

from __future__ import annotations

import numpy as np

from triage.simulator import config as C

FIELDS = ("created", "tier", "guest", "metro", "lat", "lon", "postcode", "weight", "ret_prop",
          "serial", "wardrober", "email", "device", "n_dev")

DEVICE_SPACE = 1 << 28  # actor devices and shared e-mails get ids from here up


class Customers:
    """Growing column store of customers; index = internal customer number."""

    def __init__(self) -> None:
        self.cols: dict[str, np.ndarray] = {}
        self.n_written = 0

    def __len__(self) -> int:
        return len(self.cols["created"]) if self.cols else 0

    def __getitem__(self, name: str) -> np.ndarray:
        return self.cols[name]

    def add(self, rng: np.random.Generator, created: np.ndarray, *, guest: np.ndarray,
            metro: np.ndarray | None = None, tier: np.ndarray | None = None,
            weight_scale: np.ndarray | float = 1.0, email: np.ndarray | None = None) -> np.ndarray:
        """Append customers; returns their internal ids."""
        n = len(created)
        first = len(self)
        ids = np.arange(first, first + n)
        if metro is None:
            metro = rng.choice(len(C.METRO_W), n, p=C.METRO_W)
        if tier is None:
            tier = np.where(guest, 0, rng.choice(4, n, p=C.TIER_P))
        serial = rng.random(n) < 0.05
        wardrober = rng.random(n) < 0.025
        ret = rng.lognormal(0, 0.35, n) * np.where(serial, 3.5, 1.0) * np.where(wardrober, 2.5, 1.0)
        weight = rng.lognormal(0, 1.0, n) * np.array([1.0, 1.8, 3.0, 5.0])[tier] * np.where(guest, 0.3, 1.0)
        new = {
            "created": created.astype(np.int64),
            "tier": tier.astype(np.int8),
            "guest": guest.astype(bool),
            "metro": metro.astype(np.int16),
            "lat": C.METRO_LAT[metro] + rng.normal(0, 0.15, n),
            "lon": C.METRO_LON[metro] + rng.normal(0, 0.18, n),
            "postcode": C.METRO_PREFIX[metro] * 100 + rng.integers(0, 100, n),
            "weight": weight * weight_scale,
            "ret_prop": ret,
            "serial": serial,
            "wardrober": wardrober,
            "email": ids.astype(np.int64) if email is None else email.astype(np.int64),
            "device": 2 * ids.astype(np.int64),
            "n_dev": np.where(guest, 1, 1 + (rng.random(n) < 0.35)).astype(np.int8),
        }
        if not self.cols:
            self.cols = new
        else:
            self.cols = {k: np.concatenate([self.cols[k], new[k]]) for k in FIELDS}
        return ids

    def initial_pool(self, rng: np.random.Generator, n: int, start_s: int) -> None:
        age = (rng.random(n) ** 1.6) * 6 * 365 * C.DAY + rng.integers(C.HOUR, C.DAY, n)
        created = np.sort(start_s - age.astype(np.int64))
        self.add(rng, created, guest=rng.random(n) < 0.1)

    def pick_existing(self, rng: np.random.Generator, n: int, before_s: int) -> np.ndarray:
        """Repeat buyers: customers created before `before_s`, drawn by activity."""
        w = np.where(self["created"] < before_s, self["weight"], 0.0)
        cum = np.cumsum(w)
        return np.minimum(np.searchsorted(cum, rng.random(n) * cum[-1], side="right"), len(cum) - 1)

    def pending(self) -> np.ndarray:
        """Ids not yet written to the customers table; marks them written."""
        ids = np.arange(self.n_written, len(self))
        self.n_written = len(self)
        return ids
