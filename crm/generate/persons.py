"""True persons (households, names, addresses, buying behaviour) for one chunk.

Every attribute is a counter-based draw keyed by the person's global index (or
by the household's first member for shared attributes), so a person is the
same whatever chunk size generated it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import _arrow as A
from ._context import Context
from ._random import scramble
from ._tables import LANGS

FR = LANGS.index("fr")
NL_COUNTRY = "NL"
POSTAL_LETTERS = pa.array(list("ABCDEFGHJKLMNPRSTVWXZ"))

# Household patterns: for each slot of a block of 4 persons, the slot where its
# household starts and the household's size.
_PATTERN_START = {
    "1+1+1+1": [0, 1, 2, 3],
    "2+1+1": [0, 0, 2, 3],
    "2+2": [0, 0, 2, 2],
    "3+1": [0, 0, 0, 3],
    "4": [0, 0, 0, 0],
}


@dataclass
class Address:
    line1: pa.Array
    line2: pa.Array
    city: pa.Array
    postal_code: pa.Array
    region: pa.Array
    country: pa.Array

    def take(self, idx: np.ndarray) -> Address:
        return Address(*(getattr(self, f).take(idx) for f in self.__dataclass_fields__))


@dataclass
class Persons:
    pid: np.ndarray  # global 0-based index
    person_id: pa.Array  # P0000001 (truth only)
    household: np.ndarray  # global index of the household's first member
    household_size: np.ndarray
    country: np.ndarray  # index into tables.countries
    city: np.ndarray  # index into tables cities
    gender: np.ndarray  # 0 = m, 1 = f
    first_idx: np.ndarray
    last_idx: np.ndarray
    birth_days: np.ndarray  # days since 1970-01-01
    email: pa.Array
    phone_cc: pa.Array
    phone_prefix: pa.Array
    phone_sub: pa.Array
    phone: pa.Array  # E.164
    address: Address
    moved: np.ndarray
    old_address: Address  # null where not moved
    loyalty: np.ndarray
    loyalty_id: pa.Array  # null for non-members
    acquired: np.ndarray  # days since start (float)
    buyer: np.ndarray
    lam: np.ndarray  # purchases per day while alive
    p: np.ndarray  # dropout probability after each purchase
    nu: np.ndarray  # Gamma-Gamma rate: mean spend = p_gg / nu
    k_max: np.ndarray  # repeat purchases before dropout (geometric)
    home_store: np.ndarray

    @property
    def n(self) -> int:
        return len(self.pid)


def make_address(
    ctx: Context, stream: str, ids: np.ndarray, country: np.ndarray
) -> tuple[Address, np.ndarray]:
    """Addresses in the given countries; returns them and the city index."""
    t, rng = ctx.tables, ctx.rng
    city_local = rng.choice_rows(f"{stream}.city", ids, t.city_cdf[country])
    city = t.city_by_country[country, city_local]
    lang = t.city_lang[city]
    street = t.street_offset[lang] + rng.choice_rows(f"{stream}.street", ids, t.street_cdf[lang])
    number = np.minimum(1 + np.floor(rng.exponential(f"{stream}.no", ids, 30.0)), 350).astype(
        np.int64
    )
    suffix_u = rng.uniform(f"{stream}.suffix", ids)
    suffix = A.pick(np.minimum((suffix_u * 60).astype(np.int64), 3), ["a", "b", "c", ""])
    house = A.join(A.int_str(number), suffix)
    street_name = t.streets.take(street)
    line1 = A.where(lang == FR, A.join(house, " ", street_name), A.join(street_name, " ", house))

    has_line2 = rng.uniform(f"{stream}.l2", ids) < ctx.hp["population"]["address_line2"]
    l2_idx = t.line2_offset[lang] + rng.integers(f"{stream}.l2i", ids, 0, t.line2_count[lang])
    line2 = A.null_where(t.line2.take(l2_idx), ~has_line2)

    lo, hi, step = t.postal_lo[city], t.postal_hi[city], t.postal_step[city]
    postal = lo + step * rng.integers(f"{stream}.zip", ids, 0, (hi - lo) // step + 1)
    postal_str = pc.utf8_lpad(A.int_str(postal), 4, padding="0")
    five = t.postal_width[country] == 5
    postal_str = A.where(five, pc.utf8_lpad(postal_str, 5, padding="0"), postal_str)
    nl = country == ctx.country_index[NL_COUNTRY]
    if nl.any():
        letters = A.join(
            POSTAL_LETTERS.take(rng.integers(f"{stream}.zl1", ids, 0, len(POSTAL_LETTERS))),
            POSTAL_LETTERS.take(rng.integers(f"{stream}.zl2", ids, 0, len(POSTAL_LETTERS))),
        )
        postal_str = A.where(nl, A.join(postal_str, " ", letters), postal_str)

    address = Address(
        line1=line1,
        line2=line2,
        city=t.city_names.take(city),
        postal_code=postal_str,
        region=t.city_regions.take(city),
        country=t.countries.take(country),
    )
    return address, city


def make_persons(ctx: Context, lo: int, hi: int) -> Persons:
    """Persons lo..hi-1 (global indices)."""
    rng, t, hp = ctx.rng, ctx.tables, ctx.hp
    pop = hp["population"]
    pid = np.arange(lo, hi, dtype=np.int64)
    n = len(pid)

    # Households: blocks of 4 consecutive persons split by a size pattern.
    block, slot = pid // 4, pid % 4
    names = list(pop["household_patterns"])
    pattern = rng.choice("hh.pattern", block, [pop["household_patterns"][k] for k in names])
    starts = np.array([_PATTERN_START[k] for k in names], dtype=np.int64)
    household = block * 4 + starts[pattern, slot]
    next_start = np.full(n, 4, dtype=np.int64)
    for s in range(3, -1, -1):  # the start of the next household in the block
        later = starts[pattern, s] > starts[pattern, slot]
        next_start = np.where(later, starts[pattern, s], next_start)
    household_size = np.minimum(block * 4 + next_start, ctx.customers) - household

    country = rng.choice("hh.country", household, t.country_share)
    address, city = make_address(ctx, "hh.addr", household, country)
    lang = t.city_lang[city]

    gender = (rng.uniform("p.gender", pid) < 0.5).astype(np.int64)
    group = lang * 2 + gender
    first_idx = t.first.offsets[group] + rng.choice_rows("p.first", pid, t.first.cdf[group])
    hh_last = t.last.offsets[lang] + rng.choice_rows("hh.last", household, t.last.cdf[lang])
    own_last = t.last.offsets[lang] + rng.choice_rows("p.last", pid, t.last.cdf[lang])
    shares = (pid == household) | (
        rng.uniform("p.shares_last", pid) < pop["household_shares_last_name"]
    )
    last_idx = np.where(shares, hh_last, own_last)

    age = ctx.age_values[rng.choice("p.age", pid, ctx.age_weights)]
    year = ctx.end.year - age
    year_start = (year - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
    birth_days = year_start + rng.integers("p.bday", pid, 0, 365)

    email = _emails(ctx, pid, first_idx, last_idx, country)
    cc = t.calling_code.take(country)
    prefix = t.mobile.take(
        t.mobile_offset[country] + rng.choice_rows("p.mobile", pid, t.mobile_cdf[country])
    )
    digits = t.sub_digits[country]
    sub = rng.integers("p.sub", pid, 10 ** (digits - 1), 10**digits)
    sub_str = A.int_str(sub)
    phone = A.join("+", cc, prefix, sub_str)

    noise = ctx.noise
    moved = rng.uniform("p.moved", pid) < noise["moved"]
    old_ids = pid[moved]
    old, _ = make_address(ctx, "p.old", old_ids, country[moved])
    old_address = Address(
        *(A.scatter(n, moved, getattr(old, f)) for f in Address.__dataclass_fields__)
    )

    loyalty = rng.uniform("p.loyalty", pid) < pop["loyalty_member"]
    card = scramble(pid, 10**10, rng, "loyalty_id")
    loyalty_id = A.null_where(A.join("LC", A.lpad_int(card, 10)), ~loyalty)

    acq_day = np.searchsorted(ctx.acq_cdf, rng.uniform("p.acq_day", pid), side="right")
    acquired = np.minimum(acq_day, ctx.n_days - 1) + rng.uniform("p.acq_time", pid)
    buyer = rng.uniform("p.prospect", pid) >= pop["prospect_share"]
    bg, gg = hp["bgnbd"], hp["gamma_gamma"]
    lam = np.minimum(rng.gamma("p.lambda", pid, bg["r"], 1.0 / bg["alpha"]), hp["max_lambda"])
    p = np.clip(rng.beta("p.dropout", pid, bg["a"], bg["b"]), 1e-6, 1 - 1e-9)
    nu = rng.gamma("p.nu", pid, gg["q"], 1.0 / gg["gamma"])
    k_max = np.floor(np.log(rng.open_uniform("p.k", pid)) / np.log1p(-p))
    k_max = np.minimum(k_max, 1_000_000).astype(np.int64)

    home_store = ctx.stores.home_store(ctx, pid, country, city)

    return Persons(
        pid=pid,
        person_id=A.join("P", A.lpad_int(pid + 1, ctx.person_width)),
        household=household,
        household_size=household_size,
        country=country,
        city=city,
        gender=gender,
        first_idx=first_idx,
        last_idx=last_idx,
        birth_days=birth_days,
        email=email,
        phone_cc=cc,
        phone_prefix=prefix,
        phone_sub=sub_str,
        phone=phone,
        address=address,
        moved=moved,
        old_address=old_address,
        loyalty=loyalty,
        loyalty_id=loyalty_id,
        acquired=acquired,
        buyer=buyer,
        lam=lam,
        p=p,
        nu=nu,
        k_max=k_max,
        home_store=home_store,
    )


def _emails(
    ctx: Context, pid: np.ndarray, first_idx: np.ndarray, last_idx: np.ndarray, country: np.ndarray
) -> pa.Array:
    """name + person-unique number @ a country-typical domain: unique per person."""
    rng, t = ctx.rng, ctx.tables
    first = t.first.mail.take(first_idx)
    last = t.last.mail.take(last_idx)
    initial = pc.utf8_slice_codeunits(first, 0, 1)
    # (left, separator, right): first.last, firstlast, f.last, last.first, first_last, first
    pattern = rng.choice("p.mail_pattern", pid, [35, 20, 15, 10, 10, 10])
    left = A.pick(pattern, [first, first, initial, last, first, first])
    sep = A.pick(pattern, [".", "", ".", ".", "_", ""])
    right = A.pick(pattern, [last, last, last, first, last, ""])
    number = A.int_str(scramble(pid, ctx.email_modulus, rng, "email"))
    domain = t.domains.take(
        t.domain_offset[country] + rng.choice_rows("p.domain", pid, t.domain_cdf[country])
    )
    return A.join(left, sep, right, number, "@", domain)
