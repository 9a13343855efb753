"""Counter-based randomness: every draw is a pure function of (seed, stream, id).

Why not ``numpy.random.Generator``: the generator works in chunks of persons, and
the data must not depend on how the persons were chunked. A draw keyed by the
id of the thing it belongs to (a person, a source record, the k-th order of a
person) gives the same value whatever chunk the thing falls into, in any order
and on any number of threads. The hash is splitmix64 (state = key + id * golden
ratio, output = the splitmix64 finaliser), which passes BigCrush and is a
handful of vectorised uint64 operations.
"""

from __future__ import annotations

import hashlib

import numpy as np
from scipy import special

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = (np.uint64(s) for s in (30, 27, 31, 11))
_TO_UNIT = 2.0**-53
SUB_BITS = 24  # ids combined as id * 2**SUB_BITS + sub (sub < 2**24)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, in place on a uint64 array."""
    z ^= z >> _S30
    z *= _M1
    z ^= z >> _S27
    z *= _M2
    z ^= z >> _S31
    return z


def combine(ids: np.ndarray | int, sub: np.ndarray | int) -> np.ndarray:
    """One uint64 id from an id and a small sub-index (the k-th order of a person)."""
    return (np.asarray(ids, dtype=np.uint64) << np.uint64(SUB_BITS)) + np.asarray(
        sub, dtype=np.uint64
    )


class Rng:
    """Deterministic random draws keyed by (seed, stream name, ids)."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def _key(self, stream: str) -> np.uint64:
        digest = hashlib.blake2b(f"{self.seed}/{stream}".encode(), digest_size=8).digest()
        return np.uint64(int.from_bytes(digest, "little"))

    def bits(self, stream: str, ids: np.ndarray | int) -> np.ndarray:
        ids = np.atleast_1d(np.asarray(ids, dtype=np.uint64))
        z = ids * _GOLDEN
        z += self._key(stream)
        return _mix(z)

    def uniform(self, stream: str, ids: np.ndarray | int) -> np.ndarray:
        """Floats in [0, 1)."""
        return (self.bits(stream, ids) >> _S11).astype(np.float64) * _TO_UNIT

    def open_uniform(self, stream: str, ids: np.ndarray | int) -> np.ndarray:
        """Floats in (0, 1): safe for inverse CDFs with infinite tails."""
        return ((self.bits(stream, ids) >> _S11).astype(np.float64) + 0.5) * _TO_UNIT

    def integers(self, stream: str, ids: np.ndarray | int, low, high) -> np.ndarray:
        """Integers in [low, high) (low/high may be arrays)."""
        u = self.uniform(stream, ids)
        return (np.asarray(low) + np.floor(u * (np.asarray(high) - np.asarray(low)))).astype(
            np.int64
        )

    def choice(self, stream: str, ids: np.ndarray | int, weights) -> np.ndarray:
        """Index into ``weights`` drawn proportionally to them."""
        cdf = np.cumsum(np.asarray(weights, dtype=np.float64))
        cdf /= cdf[-1]
        idx = np.searchsorted(cdf, self.uniform(stream, ids), side="right")
        return np.minimum(idx, len(cdf) - 1)

    def choice_rows(self, stream: str, ids: np.ndarray | int, cdf_rows: np.ndarray) -> np.ndarray:
        """Per-row choice: row i uses the CDF ``cdf_rows[i]`` (padded with 1.0)."""
        u = self.uniform(stream, ids)
        return (u[:, None] >= cdf_rows).sum(axis=1)

    def gamma(self, stream: str, ids: np.ndarray | int, shape: float, scale) -> np.ndarray:
        return special.gammaincinv(shape, self.open_uniform(stream, ids)) * scale

    def beta(self, stream: str, ids: np.ndarray | int, a: float, b: float) -> np.ndarray:
        return special.betaincinv(a, b, self.open_uniform(stream, ids))

    def exponential(self, stream: str, ids: np.ndarray | int, scale) -> np.ndarray:
        return -np.log(self.open_uniform(stream, ids)) * scale

    def normal(self, stream: str, ids: np.ndarray | int) -> np.ndarray:
        return special.ndtri(self.open_uniform(stream, ids))

    def poisson(self, stream: str, ids: np.ndarray | int, mu: np.ndarray) -> np.ndarray:
        """Poisson counts by inverting the CDF (pdtrik), one uniform per id."""
        u = self.open_uniform(stream, ids)
        mu = np.asarray(mu, dtype=np.float64)
        out = np.zeros(u.shape, dtype=np.int64)
        pos = mu > 0
        if pos.any():
            k = np.ceil(special.pdtrik(u[pos], mu[pos]))
            k = np.nan_to_num(k, nan=0.0)
            k = np.maximum(k, 0)
            # pdtrik is continuous: step back where the smaller count already covers u.
            below = special.pdtr(k - 1, mu[pos]) >= u[pos]
            k = np.where(below & (k > 0), k - 1, k)
            out[pos] = k.astype(np.int64)
        return out


def scramble(values: np.ndarray, modulus: int, rng: Rng, stream: str) -> np.ndarray:
    """A bijection of [0, modulus) for a power-of-10 modulus: unique ids that look random.

    ``(v * mult + salt) mod 10^k`` permutes the residues when mult is coprime to
    10. Each stream (e-mail numbers, each system's ids, card numbers) gets its
    own mult and salt from the seed, so ids of one person in different places
    share no digits pattern.
    """
    bits = rng.bits(f"scramble.{stream}", np.arange(3))
    mult = int(bits[0] % np.uint64(10**7)) * 10 + (1, 3, 7, 9)[int(bits[1] % np.uint64(4))]
    salt = int(bits[2] % np.uint64(modulus))
    if modulus * mult + modulus >= 2**63:
        raise ValueError("modulus too large for int64 scrambling")
    v = np.asarray(values, dtype=np.int64) % modulus
    return (v * mult + salt) % modulus
