"""Source records: how each system knows a person, with realistic noise.

A person appears in 1-4 systems and sometimes twice in one. Each record is a
noisy copy of the person: keyed by (person, system, duplicate number), so the
same record comes out whatever the chunking.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import _arrow as A
from . import variants, vocab
from ._context import Context
from ._random import combine, scramble
from .params import SYSTEMS
from .persons import Persons

LOYALTY = SYSTEMS.index("loyalty")
OTHER_SYSTEMS = [s for s in SYSTEMS if s != "loyalty"]
ID_PREFIX = {"web": "W", "store": "S", "call_center": "CC", "dealer": "D", "loyalty": "L"}
TYPO_WIDTH = 32
# Fields an OCR confusion can hit, with their relative weights, and the truth's
# name for each (names: the true first / last name, before swapped_names).
OCR_FIELDS = ("first_name", "last_name", "address_line1")
OCR_FIELD_WEIGHTS = [0.3, 0.4, 0.3]
PHONETIC_IN_LAST = 0.6  # share of phonetic variants in the last name where both qualify
INITIAL_DOTTED = 0.7  # "J." rather than "J"
SWAP_CITY_POSTAL = 0.7  # swapped_fields: city <-> postal code, else street line <-> city

# Phone layouts: (head, separator between prefix and subscriber number); the
# head is built from the calling code: +49 151 2345678, 0151-2345678, ...
PHONE_FORMATS = [
    ("+cc ", " ", 25),
    ("0", "-", 15),
    ("(0", ") ", 10),
    ("00cc", " ", 10),
    ("+cc", "", 20),
    ("0", " ", 10),
    ("0", "", 5),
    ("+cc (0)", " ", 5),
]


@dataclass
class Records:
    """The chunk's source records, person-major (person, system, duplicate)."""

    person: np.ndarray  # local person index
    system: np.ndarray  # index into SYSTEMS
    duplicate: np.ndarray  # 0 = first record of the person in this system, 1 = second
    key: np.ndarray  # uint64 id for keyed draws
    source_contact_id: pa.Array
    created: np.ndarray  # epoch seconds (valid even where the column is blanked)
    table: pa.Table  # contract columns, typed
    truth: pa.Table

    @property
    def n(self) -> int:
        return len(self.person)


def _upper(values: pa.Array) -> pa.Array:
    """Upper case as the exporting systems write it: ß becomes SS (Arrow's kernel
    writes the capital sharp s, which no Latin-1 or Windows-1252 export can hold)."""
    return pc.replace_substring(pc.utf8_upper(values), "\u1e9e", "SS")


def make_records(ctx: Context, persons: Persons, counters: dict[str, int]) -> Records:
    """Source records of the chunk's persons; ``counters`` carries id sequences across chunks."""
    rng, noise, pop = ctx.rng, ctx.noise, ctx.hp["population"]
    pid, n = persons.pid, persons.n

    # Which systems: loyalty members are in the loyalty system, everyone is in
    # 1-4 systems in total; the others are drawn by popularity (Gumbel top-k).
    total = 1 + rng.choice("r.k", pid, pop["systems_per_person"])
    others = total - persons.loyalty.astype(np.int64)
    weights = np.array([pop["system_weights"][s] for s in OTHER_SYSTEMS])
    gumbel = np.stack(
        [
            np.log(weights[j]) - np.log(-np.log(rng.open_uniform(f"r.sys.{s}", pid)))
            for j, s in enumerate(OTHER_SYSTEMS)
        ],
        axis=1,
    )
    rank = np.argsort(np.argsort(-gumbel, axis=1, kind="stable"), axis=1, kind="stable")
    member = np.zeros((n, len(SYSTEMS)), dtype=bool)
    for j, s in enumerate(OTHER_SYSTEMS):
        member[:, SYSTEMS.index(s)] = rank[:, j] < others
    member[:, LOYALTY] = persons.loyalty

    base_person, base_system = np.nonzero(member)
    has_dup = rng.uniform("r.dup", pid) < noise["duplicate_in_system"]
    n_member = member.sum(axis=1)
    nth = np.floor(rng.uniform("r.dup_sys", pid) * n_member).astype(np.int64)
    dup_system = np.argmax(np.cumsum(member, axis=1) > nth[:, None], axis=1)
    dup_person = np.flatnonzero(has_dup)
    person = np.concatenate([base_person, dup_person])
    system = np.concatenate([base_system, dup_system[dup_person]])
    duplicate = np.concatenate(
        [np.zeros(len(base_person), np.int64), np.ones(len(dup_person), np.int64)]
    )
    order = np.lexsort((duplicate, system, person))
    person, system, duplicate = person[order], system[order], duplicate[order]
    key = combine(pid[person], system * 2 + duplicate)
    m = len(person)

    # Source ids: a per-system sequence, scrambled so ids look random and the
    # two records of a duplicate are not neighbours.
    source_contact_id = pa.nulls(m, pa.string())
    for s_idx, s in enumerate(SYSTEMS):
        mask = system == s_idx
        seq = counters.get(s, 0) + np.arange(int(mask.sum()))
        counters[s] = counters.get(s, 0) + int(mask.sum())
        num = scramble(seq, ctx.contact_modulus, rng, f"contact_id.{s}")
        source_contact_id = A.replace_at(
            source_contact_id, mask, A.join(ID_PREFIX[s], A.lpad_int(num, ctx.contact_digits))
        )

    def u(stream: str) -> np.ndarray:
        return rng.uniform(f"rec.{stream}", key)

    t = ctx.tables
    first_idx = persons.first_idx[person]
    first = t.first.values.take(first_idx)
    last = t.last.values.take(persons.last_idx[person])

    # Nicknames: only names that have one; the conditional rate makes the
    # overall rate the configured one.
    nick_of = t.nick_index[first_idx]
    nick_p = min(1.0, noise["nickname"] / t.nick_share)
    nick = (nick_of >= 0) & (u("nick") < nick_p)
    first = A.replace_at(first, nick, t.nicknames.take(nick_of[nick]))

    # Harder noise (off by default). Each kind draws on streams of its own, so
    # switching it on leaves every other draw as it was. Rates conditional on
    # the names that qualify are scaled so that the overall rate is the one
    # configured, as for nicknames.
    initial_p = _conditional(noise["first_name_initial"], 1.0 - nick_p * t.nick_share)
    initial = ~nick & (u("first_initial") < initial_p)
    if initial.any():
        dotted = u("first_initial_dot")[initial] < INITIAL_DOTTED
        initials = variants.initials(first.filter(pa.array(initial)), dotted)
        first = A.replace_at(first, initial, initials)

    last_idx = persons.last_idx[person]
    lang = t.city_lang[persons.city[person]]
    phonetic_first_ok = t.phonetic_first[first_idx] & ~nick & ~initial
    phonetic_last_ok = t.phonetic_last[last_idx]
    nickable = t.nick_index >= 0
    phonetic_share = t.name_share(
        t.phonetic_first * (1.0 - nickable * nick_p) * (1.0 - initial_p), t.phonetic_last
    )
    phonetic = (phonetic_first_ok | phonetic_last_ok) & (
        u("phonetic") < _conditional(noise["phonetic_variant"], phonetic_share)
    )
    in_last = phonetic_last_ok & (~phonetic_first_ok | (u("phonetic_field") < PHONETIC_IN_LAST))
    phonetic_last = phonetic & in_last
    phonetic_first = phonetic & ~in_last
    first = _respell(first, phonetic_first, lang, key, rng)
    last = _respell(last, phonetic_last, lang, key, rng)

    typo = u("typo") < noise["name_typo"]
    typo_in_first = u("typo_field") < 0.5
    typo_first = typo & typo_in_first
    typo_last = typo & ~typo_in_first
    first, typo_first = _apply_typos(first, typo_first, key, rng, "first")
    last, typo_last = _apply_typos(last, typo_last, key, rng, "last")

    email_not_collected = _in_systems(system, noise["source_without_email"])
    email_missing = (u("email_missing") < noise["email_missing"]) | email_not_collected
    email = A.null_where(persons.email.take(person), email_missing)
    email_case = ~email_missing & (u("email_case") < noise["email_case"])
    case_kind = rng.choice("rec.email_case_kind", key, [1, 1, 1])
    case_src = email.filter(pa.array(email_case))
    kinds = case_kind[email_case]
    email = A.replace_at(
        email,
        email_case,
        A.pick(kinds, [_upper(case_src), pc.utf8_capitalize(case_src), pc.utf8_title(case_src)]),
    )

    phone_not_collected = _in_systems(system, noise["source_without_phone"])
    phone_missing = (u("phone_missing") < noise["phone_missing"]) | phone_not_collected
    phone_format = rng.choice("rec.phone_format", key, [f[2] for f in PHONE_FORMATS])
    cc = persons.phone_cc.take(person)
    heads = [_phone_head(h, cc) for h, _, _ in PHONE_FORMATS]
    seps = [sep for _, sep, _ in PHONE_FORMATS]
    phone = A.join(
        A.pick(phone_format, heads),
        persons.phone_prefix.take(person),
        A.pick(phone_format, seps),
        persons.phone_sub.take(person),
    )
    phone = A.null_where(phone, phone_missing)

    birth_missing = u("birth_missing") < noise["birth_date_missing"]
    birth_days = persons.birth_days[person]
    birth_typo = ~birth_missing & (u("birth_date_typo") < noise["birth_date_typo"])
    if birth_typo.any():
        birth_days[birth_typo] = variants.birth_date_typos(
            birth_days[birth_typo], key[birth_typo], rng, ctx.start_days + ctx.n_days - 1
        )
    birth_swapped = (
        ~birth_missing
        & ~birth_typo
        & variants.day_month_swappable(birth_days)
        & (u("birth_date_swap") < noise["birth_date_day_month_swapped"])
    )
    birth_days[birth_swapped] = variants.day_month_swapped(birth_days[birth_swapped])

    old = persons.moved[person] & (u("old_address") < noise["old_address_in_record"])
    cur = persons.address.take(person)
    prev = persons.old_address.take(person)
    line1 = A.where(old, prev.line1, cur.line1)
    line2 = A.where(old, prev.line2, cur.line2)
    city = A.where(old, prev.city, cur.city)
    postal = A.where(old, prev.postal_code, cur.postal_code)
    region = A.where(old, prev.region, cur.region)
    abbreviated = u("abbrev") < noise["street_abbreviated"]
    if abbreviated.any():
        short = line1.filter(pa.array(abbreviated))
        for long_form, short_form in vocab.STREET_ABBREVIATIONS:
            short = pc.replace_substring(short, long_form, short_form)
        changed = np.zeros(m, dtype=bool)
        changed[abbreviated] = pc.not_equal(short, line1.filter(pa.array(abbreviated))).to_numpy(
            zero_copy_only=False
        )
        line1 = A.replace_at(line1, abbreviated, short)
        abbreviated = changed
    no_house_number = u("house_number_missing") < noise["house_number_missing"]
    if no_house_number.any():
        before = line1.filter(pa.array(no_house_number))
        after = variants.without_house_number(before)
        changed = np.zeros(m, dtype=bool)
        changed[no_house_number] = variants.changed(after, before)
        line1 = A.replace_at(line1, no_house_number, after)
        no_house_number = changed

    ocr = u("ocr") < noise["ocr_error"]
    ocr_field = np.full(m, -1, dtype=np.int64)
    if ocr.any():
        sel = pa.array(ocr)
        fields, field = variants.ocr_errors(
            [first.filter(sel), last.filter(sel), line1.filter(sel)],
            OCR_FIELD_WEIGHTS,
            lambda stream: rng.uniform(f"rec.ocr.{stream}", key[ocr]),
        )
        first, last, line1 = (
            A.replace_at(a, ocr, b) for a, b in zip((first, last, line1), fields, strict=True)
        )
        ocr_field[ocr] = field

    swapped = u("swap") < noise["swapped_names"]
    first, last = A.where(swapped, last, first), A.where(swapped, first, last)
    upper = u("upper") < noise["last_name_upper"]
    last = A.replace_at(last, upper, _upper(last.filter(pa.array(upper))))

    postal_missing = u("postal_missing") < noise["postal_code_missing"]
    city_missing = u("city_missing") < noise["city_missing"]
    region_missing = u("region_missing") < noise["region_missing"]
    postal = A.null_where(postal, postal_missing)
    city = A.null_where(city, city_missing)
    region = A.null_where(region, region_missing)
    # Values in the wrong column, after the gaps: a swap with an empty field
    # leaves that value where it does not belong and the other empty.
    fields_swapped = u("swapped_fields") < noise["swapped_fields"]
    city_postal = fields_swapped & (u("swapped_fields_kind") < SWAP_CITY_POSTAL)
    street_city = fields_swapped & ~city_postal
    swapped_kind = np.zeros(m, dtype=np.int64)  # 0 none, 1 city/postal code, 2 street/city
    if fields_swapped.any():
        city_before = city
        city, postal = A.where(city_postal, postal, city), A.where(city_postal, city, postal)
        city, line1 = A.where(street_city, line1, city), A.where(street_city, city, line1)
        visible = variants.changed(city, city_before)  # not where both fields were empty
        swapped_kind = np.where(visible, np.where(city_postal, 1, 2), 0)
    country_idx = persons.country[person]
    country_u = u("country")
    country_missing = country_u < noise["country_missing"]
    country_named = ~country_missing & (
        country_u < noise["country_missing"] + noise["country_as_name"]
    )
    country_name = t.country_names.take(
        t.country_name_offset[country_idx]
        + rng.integers("rec.country_name", key, 0, t.country_name_count[country_idx])
    )
    country = A.null_where(
        A.where(country_named, country_name, t.countries.take(country_idx)), country_missing
    )

    known_rate = np.array([noise["loyalty_id_known"][s] for s in SYSTEMS])
    loyalty_known = persons.loyalty[person] & (u("loyalty_known") < known_rate[system])
    loyalty_id = A.null_where(persons.loyalty_id.take(person), ~loyalty_known)

    opt_missing = u("opt_missing") < noise["marketing_opt_in_missing"]
    opt_in = u("opt_in") < noise["marketing_opt_in_true"]

    # created_at: first records around the person's acquisition, second
    # records in a system later; updated_at some time after creation.
    acquired = persons.acquired[person]
    created_days = np.where(
        duplicate == 0,
        acquired - 90.0 * u("created"),
        acquired + u("created") * (ctx.n_days - acquired),
    )
    created = ctx.seconds(created_days)
    updated = created + np.floor(u("updated") * (ctx.t_end - 1 - created)).astype(np.int64)
    created_missing = u("created_missing") < noise["created_at_missing"]
    updated_missing = u("updated_missing") < noise["updated_at_missing"]

    systems = pa.array(SYSTEMS, pa.string()).take(system)
    table = pa.table(
        {
            "source_system": systems,
            "source_contact_id": source_contact_id,
            "first_name": first,
            "last_name": last,
            "email": email,
            "phone": phone,
            "birth_date": A.dates(birth_days, birth_missing),
            "address_line1": line1,
            "address_line2": line2,
            "city": city,
            "postal_code": postal,
            "region": region,
            "country": country,
            "loyalty_id": loyalty_id,
            "marketing_opt_in": A.bools(opt_in, opt_missing),
            "created_at": A.timestamps(created, created_missing),
            "updated_at": A.timestamps(updated, updated_missing),
        }
    )
    truth = pa.table(
        {
            "source_system": systems,
            "source_contact_id": source_contact_id,
            "person_id": persons.person_id.take(person),
            "is_duplicate": pa.array(duplicate == 1),
            "nickname": pa.array(nick),
            "typo_first_name": pa.array(typo_first),
            "typo_last_name": pa.array(typo_last),
            "swapped_names": pa.array(swapped),
            "last_name_upper": pa.array(upper),
            "email_missing": pa.array(email_missing),
            "email_case_changed": pa.array(email_case),
            "phone_missing": pa.array(phone_missing),
            "phone_format": pa.array(phone_format.astype(np.int8)),
            "birth_date_missing": pa.array(birth_missing),
            "old_address": pa.array(old),
            "street_abbreviated": pa.array(abbreviated),
            "postal_code_missing": pa.array(postal_missing),
            "city_missing": pa.array(city_missing),
            "region_missing": pa.array(region_missing),
            "country_missing": pa.array(country_missing),
            "country_as_name": pa.array(country_named),
            "loyalty_id_present": pa.array(loyalty_known),
            "created_at": A.timestamps(created),
            # Harder noise, all false / null by default. *_field: the field changed
            # (of the true name, before swapped_names); swapped_fields:
            # city_postal_code or street_city. email_missing / phone_missing
            # include the records of systems that never collect them.
            "email_not_collected": pa.array(email_not_collected),
            "phone_not_collected": pa.array(phone_not_collected),
            "first_name_initial": pa.array(initial),
            "phonetic_variant_field": A.pick(
                np.where(phonetic_first, 1, 0) + np.where(phonetic_last, 2, 0),
                [None, "first_name", "last_name"],
            ),
            "ocr_error_field": A.pick(ocr_field + 1, [None, *OCR_FIELDS]),
            "birth_date_typo": pa.array(birth_typo),
            "birth_date_day_month_swapped": pa.array(birth_swapped),
            "house_number_missing": pa.array(no_house_number),
            "swapped_fields": A.pick(swapped_kind, [None, "city_postal_code", "street_city"]),
        }
    )
    return Records(
        person=person,
        system=system,
        duplicate=duplicate,
        key=key,
        source_contact_id=source_contact_id,
        created=created,
        table=table,
        truth=truth,
    )


def _conditional(rate: float, eligible_share: float) -> float:
    """Rate among eligible records that gives ``rate`` among all records (capped at 1)."""
    return min(1.0, rate / eligible_share) if eligible_share > 0 else 0.0


def _in_systems(system: np.ndarray, names: list[str]) -> np.ndarray:
    return np.isin(system, [SYSTEMS.index(s) for s in names])


def _respell(
    values: pa.Array, mask: np.ndarray, lang: np.ndarray, key: np.ndarray, rng
) -> pa.Array:
    """Phonetic variants of the masked names (see ``variants.phonetic_variants``)."""
    if not mask.any():
        return values
    new = variants.phonetic_variants(
        values.filter(pa.array(mask)),
        lang[mask],
        lambda stream: rng.uniform(f"rec.phonetic.{stream}", key[mask]),
    )
    return A.replace_at(values, mask, new)


def _phone_head(head: str, cc: pa.Array) -> pa.Array | str:
    if "cc" not in head:
        return head
    before, after = head.split("cc")
    return A.join(before, cc, after)


def _apply_typos(
    values: pa.Array, mask: np.ndarray, key: np.ndarray, rng, field: str
) -> tuple[pa.Array, np.ndarray]:
    """One substitution, deletion or transposition per masked name, on a code-point matrix.

    Names are short, so a (rows x 32) uint32 matrix of code points lets numpy
    edit all of them at once. Returns the new values and where they changed.
    """
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return values, mask
    k = key[idx]
    texts = np.asarray(
        values.take(pa.array(idx)).to_numpy(zero_copy_only=False), dtype=f"<U{TYPO_WIDTH}"
    )
    mat = texts.view(np.uint32).reshape(len(idx), TYPO_WIDTH)
    length = (mat != 0).sum(axis=1)
    kind = rng.choice(f"typo.{field}.kind", k, [1, 1, 1])  # substitution, deletion, transposition
    u_pos = rng.uniform(f"typo.{field}.pos", k)
    pos = 1 + np.floor(u_pos * np.maximum(length - 1, 1)).astype(np.int64)  # never the first letter
    pos_t = 1 + np.floor(u_pos * np.maximum(length - 2, 1)).astype(np.int64)
    cols = np.arange(TYPO_WIDTH)[None, :]
    src = np.broadcast_to(cols, mat.shape).copy()
    delete = (kind == 1)[:, None]
    swap = (kind == 2)[:, None]
    src = np.where(delete & (cols >= pos[:, None]), cols + 1, src)
    src = np.where(swap & (cols == pos_t[:, None]), pos_t[:, None] + 1, src)
    src = np.where(swap & (cols == pos_t[:, None] + 1), pos_t[:, None], src)
    padded = np.concatenate([mat, np.zeros((len(idx), 1), dtype=np.uint32)], axis=1)
    out = np.take_along_axis(padded, np.minimum(src, TYPO_WIDTH), axis=1)
    letter = (ord("a") + rng.integers(f"typo.{field}.letter", k, 0, 26)).astype(np.uint32)
    rows = np.arange(len(idx))
    original = mat[rows, np.minimum(pos, TYPO_WIDTH - 1)]
    letter = np.where(letter == original, ord("a") + (letter - ord("a") + 1) % 26, letter).astype(
        np.uint32
    )
    # Substitutions, and transpositions of two equal letters (no change) fall back to one.
    unchanged = ~np.any(out != mat, axis=1)
    subst = (kind == 0) | unchanged
    out[rows[subst], pos[subst]] = letter[subst]
    ok = length >= 3
    out[~ok] = mat[~ok]
    changed_local = np.any(out != mat, axis=1)
    new = pa.array(np.ascontiguousarray(out).view(f"<U{TYPO_WIDTH}").ravel(), pa.string())
    changed = np.zeros(len(mask), dtype=bool)
    changed[idx] = changed_local
    return A.replace_at(values, changed, new.filter(pa.array(changed_local))), changed
