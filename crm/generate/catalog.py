"""Stores and products: small global tables, the same for every chunk."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import _arrow as A
from . import vocab
from ._tables import COUNTRY_CODES, cdf_rows

if TYPE_CHECKING:
    from ._context import Context

MODELS = [
    "Pro",
    "Lite",
    "X",
    "Tour",
    "Trail",
    "Urban",
    "Comfort",
    "Sport",
    "Elite",
    "Classic",
    "Air",
    "Max",
]


@dataclass
class Stores:
    store_id: pa.Array
    name: pa.Array
    city_name: pa.Array
    region: pa.Array
    country_code: pa.Array
    country: np.ndarray
    city: np.ndarray
    weight: np.ndarray
    by_country: np.ndarray  # (countries, width) store indices
    by_country_cdf: np.ndarray
    city_store: np.ndarray  # city index -> first store in that city or -1

    def table(self) -> dict[str, pa.Array]:
        return {
            "store_id": self.store_id,
            "name": self.name,
            "city": self.city_name,
            "region": self.region,
            "country": self.country_code,
        }

    def home_store(
        self, ctx: Context, pid: np.ndarray, country: np.ndarray, city: np.ndarray
    ) -> np.ndarray:
        """The store a person usually visits: the one in their city, else one in their country."""
        local = ctx.rng.choice_rows("p.store", pid, self.by_country_cdf[country])
        fallback = self.by_country[country, local]
        own = self.city_store[city]
        return np.where(own >= 0, own, fallback)

    def random_store(self, ctx: Context, stream: str, ids: np.ndarray) -> np.ndarray:
        return ctx.rng.choice(stream, ids, self.weight)


def make_stores(ctx: Context) -> Stores:
    """Stores in the biggest cities, allotted to countries by their share of persons."""
    t = ctx.tables
    n = int(ctx.hp["stores"])
    share = t.country_share / t.country_share.sum()
    count = np.maximum(np.floor(share * n).astype(int), 1)
    while count.sum() < n:  # largest remainder
        count[np.argmax(share * n - count)] += 1
    while count.sum() > n:
        count[np.argmax(count)] -= 1
    rows = []  # (country, city) — a small list, one entry per store
    for ci in range(len(COUNTRY_CODES)):
        cities = np.flatnonzero(t.city_country == ci)
        weights = np.array([vocab.CITIES[j][7] for j in cities])
        ranked = cities[np.argsort(-weights, kind="stable")]
        for k in range(count[ci]):
            rows.append((ci, int(ranked[k % len(ranked)]), k // len(ranked)))
    country = np.array([r[0] for r in rows], dtype=np.int64)
    city = np.array([r[1] for r in rows], dtype=np.int64)
    names = [
        f"{vocab.RETAILER} {vocab.CITIES[c][1]}" + (f" {extra + 1}" if extra else "")
        for _, c, extra in rows
    ]
    weight = np.array([vocab.CITIES[c][7] for c in city])
    city_store = np.full(len(vocab.CITIES), -1, dtype=np.int64)
    for i in range(len(rows) - 1, -1, -1):
        city_store[city[i]] = i
    groups = [np.flatnonzero(country == ci) for ci in range(len(COUNTRY_CODES))]
    by_country = np.zeros((len(groups), max(len(g) for g in groups)), dtype=np.int64)
    for ci, g in enumerate(groups):
        by_country[ci, : len(g)] = g
    return Stores(
        store_id=A.join("ST", A.lpad_int(np.arange(1, len(rows) + 1), 3)),
        name=pa.array(names, pa.string()),
        city_name=t.city_names.take(city),
        region=t.city_regions.take(city),
        country_code=t.countries.take(country),
        country=country,
        city=city,
        weight=weight,
        by_country=by_country,
        by_country_cdf=cdf_rows([weight[g] for g in groups]),
        city_store=city_store,
    )


@dataclass
class Products:
    product_id: pa.Array
    name: pa.Array
    category: pa.Array
    brand: pa.Array
    price: np.ndarray  # list price, cents
    cost: np.ndarray  # unit cost, cents
    by_price: np.ndarray  # product indices sorted by price

    def table(self) -> dict[str, pa.Array]:
        return {
            "product_id": self.product_id,
            "name": self.name,
            "category": self.category,
            "brand": self.brand,
            "unit_cost": A.money(self.cost),
        }


def make_products(ctx: Context) -> Products:
    """About 200 products in outdoor/bike categories, prices log-normal around a category median."""
    rng = ctx.rng
    cats = list(vocab.CATEGORIES.items())
    sizes = np.array([c[1][0] for c in cats], dtype=np.float64)
    n_total = int(ctx.hp["products"])
    count = np.maximum(np.round(sizes / sizes.sum() * n_total).astype(int), 1)
    count[np.argmax(count)] += n_total - count.sum()
    cat = np.repeat(np.arange(len(cats)), count)
    n = len(cat)
    idx = np.arange(n)
    nouns = [noun for _, (_, _, ns) in cats for noun in ns]
    noun_offset = np.cumsum([0] + [len(ns) for _, (_, _, ns) in cats[:-1]])
    noun_count = np.array([len(ns) for _, (_, _, ns) in cats])
    noun = noun_offset[cat] + rng.integers("prod.noun", idx, 0, noun_count[cat])
    brand = rng.integers("prod.brand", idx, 0, len(vocab.BRANDS))
    model = rng.integers("prod.model", idx, 0, len(MODELS))
    series = rng.integers("prod.series", idx, 1, 10)
    brands = pa.array(vocab.BRANDS, pa.string())
    name = A.join(
        brands.take(brand),
        " ",
        pa.array(nouns).take(noun),
        " ",
        pa.array(MODELS).take(model),
        " ",
        A.int_str(series),
    )
    median = np.array([c[1][1] for c in cats])[cat]
    euros = np.maximum(np.round(median * np.exp(0.5 * rng.normal("prod.price", idx))), 1)
    ending = np.array([1, 5, 10, 0])[rng.choice("prod.ending", idx, [6, 2, 1, 1])]
    price = (euros * 100 - ending).astype(np.int64)
    cost = np.round(price * (0.35 + 0.35 * rng.uniform("prod.cost", idx))).astype(np.int64)
    return Products(
        product_id=A.join("PRD-", A.lpad_int(idx + 1, 4)),
        name=pc.utf8_trim_whitespace(name),
        category=pa.array([c[0] for c in cats]).take(cat),
        brand=brands.take(brand),
        price=price,
        cost=cost,
        by_price=np.argsort(price, kind="stable"),
    )
