"""Default noise rates and model hyperparameters of the demo data generator.

Both are plain dicts so the CLI and tests can override single values
(``generate(..., noise={"email_missing": 0.1})``) and so they can be written
verbatim to ``<truth>/params.json`` next to the data they produced.
"""

from __future__ import annotations

import copy
from typing import Any

SYSTEMS = ("web", "store", "call_center", "dealer", "loyalty")

# Per source record unless noted. Rates are shares of all records of all systems.
DEFAULT_NOISE: dict[str, Any] = {
    "email_missing": 0.40,
    "phone_missing": 0.50,
    "name_typo": 0.08,  # one substitution / deletion / transposition in first or last name
    "nickname": 0.06,  # William -> Bill (only names with a nickname; rate is of all records)
    "swapped_names": 0.02,  # first and last name swapped
    "last_name_upper": 0.03,  # MÜLLER
    "email_case": 0.30,  # of records with an e-mail: upper / capitalised / title case
    "moved": 0.10,  # of persons: they have an older address ...
    "old_address_in_record": 0.5,  # ... which this share of their records still shows
    "birth_date_missing": 0.30,
    "postal_code_missing": 0.05,
    "city_missing": 0.05,
    "region_missing": 0.25,
    "country_missing": 0.05,
    "country_as_name": 0.05,  # "Deutschland" instead of "DE"
    "street_abbreviated": 0.10,  # Hauptstraße -> Hauptstr.
    "marketing_opt_in_missing": 0.30,
    "marketing_opt_in_true": 0.55,  # of records where it is present
    "created_at_missing": 0.05,
    "updated_at_missing": 0.40,
    "duplicate_in_system": 0.03,  # of persons: a second record in one of their systems
    # Which systems know a loyalty member's card number.
    "loyalty_id_known": {
        "web": 0.5,
        "store": 0.8,
        "call_center": 0.3,
        "dealer": 0.2,
        "loyalty": 1.0,
    },
}

DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "population": {
        # Households fill blocks of 4 consecutive persons with one of these size
        # patterns; 20% of persons end up sharing an address with 1-3 others.
        "household_patterns": {"1+1+1+1": 0.69, "2+1+1": 0.20, "2+2": 0.05, "3+1": 0.04, "4": 0.02},
        "household_shares_last_name": 0.75,
        "address_line2": 0.08,
        "loyalty_member": 0.35,
        # Number of systems a person appears in (1, 2, 3, 4), loyalty included.
        "systems_per_person": [0.50, 0.33, 0.13, 0.04],
        # Relative popularity of the other systems.
        "system_weights": {"web": 0.45, "store": 0.33, "call_center": 0.09, "dealer": 0.13},
        "prospect_share": 0.25,  # persons who never buy
    },
    # BG/NBD, time unit = days: purchase rate lambda ~ Gamma(r, rate alpha),
    # dropout after each purchase p ~ Beta(a, b). Calibrated to ~5 orders per
    # buying person over a 3-year window with uniform acquisition dates.
    "bgnbd": {"r": 1.0, "alpha": 41.0, "a": 1.2, "b": 5.0},
    # Gamma-Gamma spend: order value ~ Gamma(p, rate nu), nu ~ Gamma(q, rate gamma);
    # mean spend per person = p / nu, population mean p * gamma / (q - 1) = 80 EUR.
    "gamma_gamma": {"p": 6.0, "q": 4.0, "gamma": 40.0},
    # Month-of-year weights (thinning of the purchase process; December peak).
    "seasonality": [0.85, 0.8, 0.9, 0.95, 1.0, 0.95, 0.9, 0.9, 1.0, 1.05, 1.25, 1.5],
    "max_lambda": 0.5,  # purchases per day, a cap for the rare extreme draws
    "anonymous_order_share": 0.05,  # of all orders: walk-in store sales without a contact
    "status": {"completed": 0.90, "returned": 0.05, "cancelled": 0.05},
    "status_missing": 0.03,  # of completed orders: status left empty (means completed)
    "status_variant": 0.02,  # spelled as a synonym or in another case ("Canceled")
    "currency_present": 0.5,  # "EUR", else absent
    "lines_per_order": [0.45, 0.30, 0.15, 0.10],  # 1, 2, 3, 4 lines
    "quantity": [0.78, 0.16, 0.06],  # 1, 2, 3
    "line_discount": 0.15,  # share of lines with a discount of 5-25%
    "home_store": 0.8,  # store orders at the person's home store
    "products": 200,
    "stores": 30,
    "interactions": {
        "buyer_share": 0.20,
        "per_person": [0.6, 0.3, 0.1],  # 1, 2, 3 interactions
        "with_order": 0.5,
        "resolved": 0.85,
        "satisfaction_present": 0.55,
        "first_response_present": 0.9,  # sources that record the first answer
        "unknown_contact": 0.05,
    },
    "campaigns": {
        "count": 10,
        "audience": 0.30,  # of eligible records (opted in, reachable, existing)
        "control": 0.10,  # hold-out share of the audience
        "open": 0.40,  # e-mail opens of sent
        "click_email": 0.30,  # of opened
        "click_sms": 0.08,  # of sent
        "convert_click": 0.15,  # of clicked
        "convert_base": 0.02,  # of every audience member, control included
    },
}


def merged(defaults: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Deep copy of defaults with overrides applied; unknown keys are an error."""
    out = copy.deepcopy(defaults)
    for key, value in (overrides or {}).items():
        if key not in out:
            raise ValueError(f"unknown parameter {key!r}; known: {sorted(out)}")
        if isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
