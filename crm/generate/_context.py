"""Everything a chunk needs that is fixed for the whole run."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from ._random import Rng
from ._tables import COUNTRY_CODES, Tables
from .catalog import make_products, make_stores

EPOCH = dt.date(1970, 1, 1)


class Context:
    """Run-wide settings, reference tables and the counter-based RNG."""

    def __init__(
        self,
        seed: int,
        customers: int,
        start: dt.date,
        end: dt.date,
        noise: dict[str, Any],
        hp: dict[str, Any],
    ) -> None:
        self.seed = seed
        self.customers = customers
        self.start, self.end = start, end
        self.noise, self.hp = noise, hp
        self.rng = Rng(seed)
        self.tables = Tables()
        self.start_days = (start - EPOCH).days
        self.t_start = self.start_days * 86_400  # epoch seconds of start 00:00 UTC
        self.n_days = (end - start).days + 1
        self.t_end = self.t_start + self.n_days * 86_400  # exclusive

        # Seasonality: weight of each day of the window, mean 1 over a year.
        season = np.asarray(hp["seasonality"], dtype=np.float64)
        season = season / season.mean()
        days = np.arange(self.start_days, self.start_days + self.n_days).astype("datetime64[D]")
        month = days.astype("datetime64[M]").astype(np.int64) % 12
        self.day_weight = season[month]
        self.max_day_weight = float(self.day_weight.max())
        self.acq_cdf = np.cumsum(self.day_weight) / self.day_weight.sum()

        # Ages 18-90 at the end of the window, most between 30 and 65.
        self.age_values = np.arange(18, 91)
        self.age_weights = np.exp(-0.5 * ((self.age_values - 46) / 17.0) ** 2)

        self.country_index = {c: i for i, c in enumerate(COUNTRY_CODES)}
        self.person_width = max(7, len(str(customers)))
        self.email_modulus = 10 ** len(str(customers))
        # Source ids: at most 2 records per person and system -> 10x headroom.
        self.contact_digits = max(6, len(str(2 * customers)) + 1)
        self.contact_modulus = 10**self.contact_digits
        self.order_width = max(7, len(str(customers * 10)))

        self.stores = make_stores(self)
        self.products = make_products(self)

    def seconds(self, days: np.ndarray) -> np.ndarray:
        """Days since start (float) -> epoch seconds (int64)."""
        return self.t_start + np.floor(np.asarray(days) * 86_400.0).astype(np.int64)
