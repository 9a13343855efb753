"""The reference lists of ``vocab`` turned into arrays the vectorised code indexes.

Built once per run (the lists are small); every per-row lookup afterwards is a
numpy index or an Arrow ``take``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from . import vocab
from .variants import phonetic_applicable

LANGS = vocab.LANGS
GENDERS = ("m", "f")
COUNTRY_CODES = tuple(vocab.COUNTRIES)


def zipf_weights(n: int, s: float) -> np.ndarray:
    """Zipf-like weights for ranks 1..n: a few very common values, a long tail."""
    return 1.0 / np.arange(1, n + 1, dtype=np.float64) ** s


def cdf_rows(groups: list[np.ndarray]) -> np.ndarray:
    """Stack per-group weights into a matrix of CDFs padded with 1.0 (see Rng.choice_rows)."""
    width = max(len(g) for g in groups)
    out = np.ones((len(groups), width), dtype=np.float64)
    for i, g in enumerate(groups):
        c = np.cumsum(g) / np.sum(g)
        c[-1] = 1.0
        out[i, : len(g)] = c
    # choice_rows counts entries <= u; the last real entry is 1.0 > u always.
    return out


def mail_form(name: str) -> str:
    """How a name appears in an e-mail address: lower case ASCII, no spaces."""
    s = name.lower()
    for a, b in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        s = s.replace(a, b)
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()
    return "".join(ch for ch in s if ch.isalnum())


@dataclass
class Names:
    values: pa.Array  # all names, groups concatenated
    mail: pa.Array  # mail_form of each
    offsets: np.ndarray  # start of each group in values
    cdf: np.ndarray  # (groups, width) Zipf CDFs


def _names(groups: list[list[str]], s: float) -> Names:
    flat = [n for g in groups for n in g]
    offsets = np.cumsum([0] + [len(g) for g in groups[:-1]]).astype(np.int64)
    return Names(
        values=pa.array(flat, pa.string()),
        mail=pa.array([mail_form(n) for n in flat], pa.string()),
        offsets=offsets,
        cdf=cdf_rows([zipf_weights(len(g), s) for g in groups]),
    )


class Tables:
    """Arrays derived from the vocabulary, shared by all chunks of a run."""

    def __init__(self, name_zipf: float = 1.0) -> None:
        self.name_zipf = name_zipf
        # First names: group = lang_index * 2 + gender_index.
        self.first = _names(
            [vocab.FIRST_NAMES[(lang, g)] for lang in LANGS for g in GENDERS], name_zipf
        )
        self.last = _names([vocab.LAST_NAMES[lang] for lang in LANGS], name_zipf)
        flat_first = self.first.values.to_pylist()
        nick_list = sorted(set(vocab.NICKNAMES.values()))
        self.nicknames = pa.array(nick_list, pa.string())
        self.nick_index = np.array(
            [
                nick_list.index(vocab.NICKNAMES[n]) if n in vocab.NICKNAMES else -1
                for n in flat_first
            ],
            dtype=np.int64,
        )

        # Countries.
        self.countries = pa.array(COUNTRY_CODES, pa.string())
        cinfo = [vocab.COUNTRIES[c] for c in COUNTRY_CODES]
        self.country_share = np.array([c["share"] for c in cinfo])
        self.calling_code = pa.array([c["cc"] for c in cinfo], pa.string())
        self.postal_width = np.array([c["width"] for c in cinfo], dtype=np.int64)
        self.sub_digits = np.array([c["digits"] for c in cinfo], dtype=np.int64)
        mobile = [c["mobile"] for c in cinfo]
        self.mobile = pa.array([m for ms in mobile for m in ms], pa.string())
        self.mobile_offset = np.cumsum([0] + [len(m) for m in mobile[:-1]]).astype(np.int64)
        self.mobile_cdf = cdf_rows([np.ones(len(m)) for m in mobile])
        names = [c["names"] for c in cinfo]
        self.country_names = pa.array([n for ns in names for n in ns], pa.string())
        self.country_name_offset = np.cumsum([0] + [len(n) for n in names[:-1]]).astype(np.int64)
        self.country_name_count = np.array([len(n) for n in names], dtype=np.int64)
        domains = [vocab.EMAIL_DOMAINS[c] for c in COUNTRY_CODES]
        self.domains = pa.array([d for ds in domains for d, _ in ds], pa.string())
        self.domain_offset = np.cumsum([0] + [len(d) for d in domains[:-1]]).astype(np.int64)
        self.domain_cdf = cdf_rows([np.array([w for _, w in ds], dtype=float) for ds in domains])

        # Cities, grouped by country.
        cities = vocab.CITIES
        self.city_country = np.array([COUNTRY_CODES.index(c[0]) for c in cities], dtype=np.int64)
        self.city_names = pa.array([c[1] for c in cities], pa.string())
        self.city_regions = pa.array([c[2] for c in cities], pa.string())
        self.postal_lo = np.array([c[3] for c in cities], dtype=np.int64)
        self.postal_hi = np.array([c[4] for c in cities], dtype=np.int64)
        self.postal_step = np.array([c[5] for c in cities], dtype=np.int64)
        self.city_lang = np.array([LANGS.index(c[6]) for c in cities], dtype=np.int64)
        by_country = [np.flatnonzero(self.city_country == i) for i in range(len(COUNTRY_CODES))]
        width = max(len(b) for b in by_country)
        self.city_by_country = np.zeros((len(COUNTRY_CODES), width), dtype=np.int64)
        for i, b in enumerate(by_country):
            self.city_by_country[i, : len(b)] = b
        self.city_cdf = cdf_rows([np.array([cities[j][7] for j in b]) for b in by_country])

        # Streets and second address lines, by language.
        streets = [vocab.STREETS[lang] for lang in LANGS]
        self.streets = pa.array([s for ss in streets for s in ss], pa.string())
        self.street_offset = np.cumsum([0] + [len(s) for s in streets[:-1]]).astype(np.int64)
        self.street_cdf = cdf_rows([zipf_weights(len(s), 0.6) for s in streets])
        line2 = [vocab.ADDRESS_LINE2[lang] for lang in LANGS]
        self.line2 = pa.array([s for ss in line2 for s in ss], pa.string())
        self.line2_offset = np.cumsum([0] + [len(s) for s in line2[:-1]]).astype(np.int64)
        self.line2_count = np.array([len(s) for s in line2], dtype=np.int64)

        # Expected share of persons whose first name has a nickname, so the
        # nickname noise can be applied at an overall rate that does not depend
        # on the chunk (a realised share would).
        lang_share = np.zeros(len(LANGS))
        for ci in range(len(COUNTRY_CODES)):
            members = by_country[ci]
            w = np.array([cities[j][7] for j in members])
            np.add.at(lang_share, self.city_lang[members], self.country_share[ci] * w / w.sum())
        lang_share /= lang_share.sum()
        share = 0.0
        for li in range(len(LANGS)):
            for gi in range(len(GENDERS)):
                g = li * len(GENDERS) + gi
                start = self.first.offsets[g]
                size = len(vocab.FIRST_NAMES[(LANGS[li], GENDERS[gi])])
                w = zipf_weights(size, name_zipf)
                has = self.nick_index[start : start + size] >= 0
                share += lang_share[li] / len(GENDERS) * float((w * has).sum() / w.sum())
        self.nick_share = share
        self.lang_share = lang_share

        # Names a phonetic spelling rule applies to (noise ``phonetic_variant``).
        first_lang = np.repeat(
            np.arange(len(LANGS) * len(GENDERS)) // len(GENDERS),
            [len(vocab.FIRST_NAMES[(lang, g)]) for lang in LANGS for g in GENDERS],
        )
        last_lang = np.repeat(np.arange(len(LANGS)), [len(vocab.LAST_NAMES[x]) for x in LANGS])
        self.phonetic_first = phonetic_applicable(self.first.values, first_lang)
        self.phonetic_last = phonetic_applicable(self.last.values, last_lang)

    def name_share(self, first_p: np.ndarray, last_p: np.ndarray) -> float:
        """Expected share of persons whose first name or last name qualifies.

        ``first_p`` / ``last_p``: per name of the vocabulary, the probability
        that it qualifies. First and last names are drawn independently given
        the language (genders equally likely), with the Zipf weights of the draw.
        """
        share = 0.0
        for li, lang in enumerate(LANGS):
            p_first = 0.0
            for gi, gender in enumerate(GENDERS):
                start = self.first.offsets[li * len(GENDERS) + gi]
                w = zipf_weights(len(vocab.FIRST_NAMES[(lang, gender)]), self.name_zipf)
                p_first += float((w * first_p[start : start + len(w)]).sum() / w.sum())
            p_first /= len(GENDERS)
            start = self.last.offsets[li]
            w = zipf_weights(len(vocab.LAST_NAMES[lang]), self.name_zipf)
            p_last = float((w * last_p[start : start + len(w)]).sum() / w.sum())
            share += self.lang_share[li] * (1.0 - (1.0 - p_first) * (1.0 - p_last))
        return share
