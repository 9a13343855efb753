"""Harder, export-like noise for source records; every kind is off by default.

OCR confusions, phonetic spellings of names, birth dates with a slipped digit
or day and month swapped, street lines without a house number. Each function
takes whole arrays (the affected records only) and keyed draws; loops run over
the small rule tables in ``vocab``, never over records.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import _arrow as A
from ._random import Rng
from .vocab import LANGS, OCR_CONFUSIONS, PHONETIC_RULES

Draw = Callable[[str], np.ndarray]  # stream name -> one uniform per affected record

# A house number with an optional letter at the start ("12 Rue ...", French
# order) or at the end ("Hauptstraße 12a") of the street line.
HOUSE_NUMBER = r"^[0-9]+[a-z]? +| +[0-9]+[a-z]?$"

# Digits a birth-date typo may hit: (component, place value). The century is
# left alone: 1985 -> 2985 is not a typo anyone keeps.
_DATE_DIGITS = [("y", 10), ("y", 1), ("m", 10), ("m", 1), ("d", 10), ("d", 1)]
_FIRST_YEAR = 1900


def _nth_true(mask: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Per row, the column of the n-th (0-based) true value of a boolean matrix."""
    return np.argmax(np.cumsum(mask, axis=1) > n[:, None], axis=1)


def _bools(values: pa.Array) -> np.ndarray:
    return values.fill_null(False).to_numpy(zero_copy_only=False).astype(bool)


def changed(new: pa.Array, old: pa.Array) -> np.ndarray:
    """Where two string arrays differ (null against a value counts as a difference)."""
    differ = _bools(pc.not_equal(new, old))
    return differ | (_bools(pc.is_valid(new)) != _bools(pc.is_valid(old)))


# --- phonetic spellings ---------------------------------------------------------------


def _rule_pattern(prefix: str, spelling: str, suffix: str) -> str:
    return f"({prefix})({spelling})({suffix})"


def _current_spelling(values: pa.Array, lang: np.ndarray, rule) -> np.ndarray:
    """Index of the spelling of ``rule`` a name has (-1: the rule does not apply).

    ``lang`` is the name's language (index into ``LANGS``). A spelling counts
    only if another spelling may be written in its place.
    """
    langs, prefix, spellings, suffix, writable = rule
    writable = writable or spellings
    in_lang = np.isin(lang, [LANGS.index(code) for code in langs])
    current = np.full(len(values), -1, dtype=np.int64)
    for k, spelling in enumerate(spellings):
        if all(w == spelling for w in writable):
            continue
        hit = _bools(pc.match_substring_regex(values, _rule_pattern(prefix, spelling, suffix)))
        current = np.where((current < 0) & hit & in_lang, k, current)
    return current


def _applies(values: pa.Array, lang: np.ndarray) -> np.ndarray:
    """(names, rules): which rules of ``PHONETIC_RULES`` can respell which name."""
    return np.stack([_current_spelling(values, lang, r) >= 0 for r in PHONETIC_RULES], axis=1)


def phonetic_applicable(values: pa.Array, lang: np.ndarray) -> np.ndarray:
    """Names that at least one rule of ``PHONETIC_RULES`` can respell."""
    return _applies(values, lang).any(axis=1)


def phonetic_variants(values: pa.Array, lang: np.ndarray, draw: Draw) -> pa.Array:
    """Another spelling of each name: one applicable rule surely, each other one at 1/2.

    Meyer -> Meier / Maier / Mayer, Schmidt -> Schmitt, Christoph -> Kristoph or
    Kristof. Every name passed should have an applicable rule (see
    ``phonetic_applicable``); rules run in table order on the text so far.
    """
    applies = _applies(values, lang)
    count = applies.sum(axis=1)
    picked = _nth_true(applies, np.floor(draw("pick") * count).astype(np.int64))
    out = values
    for r, rule in enumerate(PHONETIC_RULES):
        use = applies[:, r] & ((picked == r) | (draw(f"extra.{r}") < 0.5))
        if not use.any():
            continue
        _, prefix, spellings, suffix, writable = rule
        current = _current_spelling(out, lang, rule)  # an earlier rule may have changed the text
        use &= current >= 0
        targets = np.array([spellings.index(w) for w in (writable or spellings)])
        options = targets[None, :] != current[:, None]
        choice = _nth_true(options, np.floor(draw(f"to.{r}") * options.sum(axis=1)).astype(int))
        target = targets[choice]
        for k in range(len(spellings)):
            for t in targets:
                rows = use & (current == k) & (target == t)
                if rows.any():
                    new = pc.replace_substring_regex(
                        out.filter(pa.array(rows)),
                        _rule_pattern(prefix, spellings[k], suffix),
                        rf"\1{spellings[t]}\3",
                        max_replacements=1,
                    )
                    out = A.replace_at(out, rows, new)
    return out


# --- OCR confusions -------------------------------------------------------------------


def ocr_errors(
    fields: list[pa.Array], weights: list[float], draw: Draw
) -> tuple[list[pa.Array], np.ndarray]:
    """One confusion of ``OCR_CONFUSIONS`` in one field per row, at its first occurrence.

    The field is drawn by ``weights`` among the fields where some confusion
    applies, the confusion uniformly among those that apply there. Returns the
    fields and, per row, the index of the field changed (-1: none applied).
    """
    n = len(fields[0])
    hits = [
        np.stack([_bools(pc.match_substring(f, src)) for src, _ in OCR_CONFUSIONS], axis=1)
        for f in fields
    ]
    w = np.stack([wt * h.any(axis=1) for wt, h in zip(weights, hits, strict=True)], axis=1)
    total = w.sum(axis=1)
    field = np.argmax(np.cumsum(w, axis=1) > (draw("field") * total)[:, None], axis=1)
    field = np.where(total > 0, field, -1)
    u_pick = draw("pick")
    out = list(fields)
    for f, h in enumerate(hits):
        rows = field == f
        if not rows.any():
            continue
        confusion = _nth_true(h, np.floor(u_pick * h.sum(axis=1)).astype(np.int64))
        for c, (src, dst) in enumerate(OCR_CONFUSIONS):
            m = rows & (confusion == c)
            if m.any():
                new = pc.replace_substring(out[f].filter(pa.array(m)), src, dst, max_replacements=1)
                out[f] = A.replace_at(out[f], m, new)
    assert all(len(f) == n for f in out)
    return out, field


# --- first names, street lines ----------------------------------------------------------


def initials(first: pa.Array, dotted: np.ndarray) -> pa.Array:
    """The first letter only: "J." where dotted, else "J"."""
    letter = pc.utf8_slice_codeunits(first, 0, 1)
    return A.where(dotted, A.join(letter, "."), letter)


def without_house_number(line1: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(line1, HOUSE_NUMBER, "")


# --- birth dates ----------------------------------------------------------------------


def _ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d64 = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    months = d64.astype("datetime64[M]")
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (d64 - months.astype("datetime64[D]")).astype(np.int64) + 1
    return year, month, day


def _days(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of valid (year, month, day) triples."""
    months = ((year - 1970) * 12 + month - 1).astype("datetime64[M]")
    return months.astype("datetime64[D]").astype(np.int64) + day - 1


def _month_length(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    months = ((year - 1970) * 12 + month - 1).astype("datetime64[M]")
    return ((months + 1).astype("datetime64[D]") - months.astype("datetime64[D]")).astype(np.int64)


def birth_date_typos(days: np.ndarray, key: np.ndarray, rng: Rng, latest: int) -> np.ndarray:
    """Each date with one digit of year (not the century), month or day changed.

    Drawn uniformly among the changes that give a real date between 1900 and
    ``latest`` (days since 1970-01-01); there is always one (the day's last digit).
    """
    year, month, day = _ymd(days)
    value = {"y": year, "m": month, "d": day}
    digits = np.arange(10)
    cand = {c: np.repeat(value[c][:, None], len(_DATE_DIGITS) * 10, axis=1) for c in value}
    for p, (comp, place) in enumerate(_DATE_DIGITS):
        v = value[comp][:, None]
        cand[comp][:, p * 10 : (p + 1) * 10] = v + (digits[None, :] - (v // place) % 10) * place
    y, m, d = cand["y"], cand["m"], cand["d"]
    ok = (y >= _FIRST_YEAR) & (m >= 1) & (m <= 12) & (d >= 1)
    ok &= (y != year[:, None]) | (m != month[:, None]) | (d != day[:, None])
    safe_m = np.where(ok, m, 1)
    ok &= d <= _month_length(np.where(ok, y, 1970), safe_m)
    new_days = _days(np.where(ok, y, 1970), safe_m, np.where(ok, d, 1))
    ok &= new_days <= latest
    ids = np.asarray(key, dtype=np.uint64)[:, None] * np.uint64(64) + np.arange(
        ok.shape[1], dtype=np.uint64
    )
    score = np.where(
        ok, rng.uniform("rec.birth_date_typo.digit", ids.ravel()).reshape(ok.shape), -1
    )
    pick = np.argmax(score, axis=1)
    rows = np.arange(len(days))
    assert ok[rows, pick].all(), "every date has a valid one-digit typo"
    return new_days[rows, pick]


def day_month_swappable(days: np.ndarray) -> np.ndarray:
    """Dates whose day could be read as a month (and differs from the month)."""
    _, month, day = _ymd(days)
    return (day <= 12) & (day != month)


def day_month_swapped(days: np.ndarray) -> np.ndarray:
    """2 March -> 3 February (only for ``day_month_swappable`` dates)."""
    year, month, day = _ymd(days)
    return _days(year, day, month)
