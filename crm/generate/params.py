"""Default noise rates and model hyperparameters of the demo data generator.

Both are plain dicts so the CLI and tests can override single values
(``generate(..., noise={"email_missing": 0.1})``) and so they can be written
verbatim to ``<truth>/params.json`` next to the data they produced. A noise
profile (``NOISE_PROFILES``) is a named set of such overrides.
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
    # Harder, export-like noise, off by default (NOISE_PROFILES["hard"] turns it
    # on). Name noise refers to the true first / last name (before swapped_names).
    # One OCR confusion (vocab.OCR_CONFUSIONS: rn->m, l->1, O->0, ...) in the
    # first name, last name or street line.
    "ocr_error": 0.0,
    # Last (or first) name respelled by vocab.PHONETIC_RULES (Meier -> Meyer,
    # Schmidt -> Schmitt); at most the share of names a rule applies to (~38%).
    "phonetic_variant": 0.0,
    "first_name_initial": 0.0,  # "J." or "J" instead of the first name
    "birth_date_typo": 0.0,  # of records with a birth date: one digit changed, still a real date
    # Of records with a birth date whose day is at most 12 and not the month:
    # 2 March -> 3 February.
    "birth_date_day_month_swapped": 0.0,
    "house_number_missing": 0.0,  # street line without its house number
    "swapped_fields": 0.0,  # city <-> postal code (70%) or street line <-> city (30%)
    # Systems whose records never carry an e-mail / a phone number (on top of
    # email_missing / phone_missing, which apply to every system).
    "source_without_email": [],
    "source_without_phone": [],
}

# Named noise presets, applied over DEFAULT_NOISE (then single overrides on top).
NOISE_PROFILES: dict[str, dict[str, Any]] = {
    "default": {},
    # Closer to real exports: more gaps, more typing and scanning errors, and
    # sources that never ask for an e-mail (till, dealer forms) or a phone.
    "hard": {
        "email_missing": 0.50,
        "phone_missing": 0.60,
        "name_typo": 0.15,
        "ocr_error": 0.03,
        "phonetic_variant": 0.05,
        "first_name_initial": 0.03,
        "birth_date_typo": 0.03,
        "birth_date_day_month_swapped": 0.02,
        "house_number_missing": 0.03,
        "swapped_fields": 0.01,
        "source_without_email": ["store", "dealer"],
        "source_without_phone": ["web", "loyalty"],
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


def resolve_noise(profile: str = "default", overrides: dict[str, Any] | None = None) -> dict:
    """DEFAULT_NOISE with a profile and then single overrides applied, checked."""
    if profile not in NOISE_PROFILES:
        raise ValueError(f"unknown noise profile {profile!r}; known: {sorted(NOISE_PROFILES)}")
    noise = merged(merged(DEFAULT_NOISE, NOISE_PROFILES[profile]), overrides)
    for key in ("source_without_email", "source_without_phone"):
        value = noise[key]
        if not isinstance(value, list | tuple) or not set(value) <= set(SYSTEMS):
            raise ValueError(f"noise {key!r} must be a list of systems of {SYSTEMS}, got {value!r}")
    return noise


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
