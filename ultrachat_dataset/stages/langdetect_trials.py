"""langdetect, seeded (the same answer on every run, thread and process), its trials compiled:
the answer `Detector.detect` gives, ~3x faster.

langdetect decides by 7 trials of a random walk over a text's n-grams. Each trial draws an alpha
from a Gaussian, then n-grams at random, multiplying 55 language probabilities by each n-gram's
profile and normalising every 5 draws, until one language passes 0.99999. Its Python does ~300
draws of 55 multiplications a text: ~80% of its time. Here those trials are one compiled
function over the same random stream and the same floating-point operations in the same order:
- the stream: Python's Mersenne Twister (from the state `random.Random.seed` leaves), its
  `getrandbits` rejection sampling for `choice`, and `gauss` (two `random()` draws, a value kept
  for the next call), as CPython's `random` computes them;
- the sums: the interpreter's own `sum` of floats (left to right before Python 3.12, Neumaier's
  compensated sum since), checked against it when this module loads (`SUM_MATCHES`).
langdetect's own code still cleans the text, extracts its n-grams and ranks the languages; tests
hold the answers equal to langdetect's on many texts.
"""

from __future__ import annotations

import random
import sys
import threading

import numba
import numpy as np
from langdetect import DetectorFactory, detector_factory
from langdetect.detector import Detector
from langdetect.lang_detect_exception import ErrorCode, LangDetectException

UNKNOWN = "unknown"
DetectorFactory.seed = 0  # each detector seeds its own generator with this: deterministic
_FACTORY_LOCK = threading.Lock()

_N, _M = 624, 397  # the Mersenne Twister's state words and its shift (MT19937)
_UPPER, _LOWER, _MATRIX = np.uint32(0x80000000), np.uint32(0x7FFFFFFF), np.uint32(0x9908B0DF)


def _seeded_state(seed: int) -> tuple[np.ndarray, int]:
    """The generator's words and position after `random.Random.seed(seed)`."""
    _version, internal, _gauss_next = random.Random(seed).getstate()
    return np.array(internal[:_N], np.uint32), internal[_N]


@numba.njit(cache=True, nogil=True)
def _next_word(state, position):  # pragma: no cover (compiled)
    """The next 32-bit output of MT19937 at `position[0]` (the state regenerated every 624)."""
    if position[0] >= _N:
        for k in range(_N):
            y = (state[k] & _UPPER) | (state[(k + 1) % _N] & _LOWER)
            state[k] = state[(k + _M) % _N] ^ (y >> np.uint32(1)) ^ (_MATRIX * (y & np.uint32(1)))
        position[0] = 0
    y = state[position[0]]
    position[0] += 1
    y ^= y >> np.uint32(11)
    y ^= (y << np.uint32(7)) & np.uint32(0x9D2C5680)
    y ^= (y << np.uint32(15)) & np.uint32(0xEFC60000)
    y ^= y >> np.uint32(18)
    return y


@numba.njit(cache=True, nogil=True)
def _below(n, bits, state, position):  # pragma: no cover (compiled)
    """`random.choice`'s index: `getrandbits(bits)` (the top bits of a word), again until < n."""
    while True:
        r = _next_word(state, position) >> np.uint32(32 - bits)
        if r < n:
            return r


@numba.njit(cache=True, nogil=True)
def _uniform(state, position):  # pragma: no cover (compiled)
    """`random.random()`: 53 bits from two words."""
    a = _next_word(state, position) >> np.uint32(5)
    b = _next_word(state, position) >> np.uint32(6)
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True, nogil=True)
def _sum(values, neumaier):  # pragma: no cover (compiled)
    """The interpreter's `sum` of a list of floats started from the integer 0."""
    total = values[0]
    compensation = 0.0
    for index in range(1, len(values)):
        x = values[index]
        t = total + x
        if neumaier:
            if abs(total) >= abs(x):
                compensation += (total - t) + x
            else:
                compensation += (x - t) + total
        total = t
    if neumaier and compensation != 0.0 and np.isfinite(compensation):
        total += compensation
    return total


@numba.njit(cache=True, nogil=True)
def _trials(ngram_rows, profiles, start, state, position, n_trial, alpha, alpha_width, base_freq,
            conv_threshold, iteration_limit, neumaier):  # pragma: no cover (compiled)
    """`Detector._detect_block` after the n-grams are extracted: the languages' probabilities
    averaged over the trials (`langprob`). `ngram_rows`: each n-gram's row of `profiles`."""
    n_langs = profiles.shape[1]
    langprob = np.zeros(n_langs)
    n = len(ngram_rows)
    bits = 0
    while (1 << bits) <= n:  # n.bit_length()
        bits += 1
    gauss_next = 0.0
    have_gauss_next = False
    for _ in range(n_trial):
        prob = start.copy()
        if have_gauss_next:
            z = gauss_next
            have_gauss_next = False
        else:
            x2pi = _uniform(state, position) * (2.0 * np.pi)
            g2rad = np.sqrt(-2.0 * np.log(1.0 - _uniform(state, position)))
            z = np.cos(x2pi) * g2rad
            gauss_next = np.sin(x2pi) * g2rad
            have_gauss_next = True
        trial_alpha = alpha + (0.0 + z * 1.0) * alpha_width
        weight = trial_alpha / base_freq
        i = 0
        while True:
            row = ngram_rows[_below(n, bits, state, position)]
            for lang in range(n_langs):
                prob[lang] *= weight + profiles[row, lang]
            if i % 5 == 0:
                total = _sum(prob, neumaier)
                top = 0.0
                for lang in range(n_langs):
                    p = prob[lang] / total
                    if top < p:
                        top = p
                    prob[lang] = p
                if top > conv_threshold or i >= iteration_limit:
                    break
            i += 1
        for lang in range(n_langs):
            langprob[lang] += prob[lang] / n_trial
    return langprob


NEUMAIER_SUM = sys.version_info >= (3, 12)  # CPython's `sum` of floats compensates since 3.12


def _sum_matches() -> bool:
    """Whether `_sum` is this interpreter's `sum` on lists that round differently either way."""
    generator = np.random.default_rng(0)
    for _ in range(200):
        values = generator.random(55) ** generator.integers(1, 40)
        if _sum(values, NEUMAIER_SUM) != sum(values.tolist()):
            return False
    return True


SUM_MATCHES = _sum_matches()


class _Profiles:
    """The profiles of the n-grams seen so far, as rows of one array (the factory holds them as
    87,598 lists of 55 floats; copying all would cost ~40 MB a process)."""

    def __init__(self, word_lang_prob_map: dict[str, list[float]], languages: int):
        self.source = word_lang_prob_map
        self.rows: dict[str, int] = {}
        self.table = np.empty((1024, languages))
        self.lock = threading.Lock()

    def rows_of(self, ngrams: list[str]) -> tuple[np.ndarray, np.ndarray]:
        with self.lock:
            rows = self.rows
            for word in set(ngrams).difference(rows):
                if len(rows) == len(self.table):
                    self.table = np.concatenate([self.table, np.empty_like(self.table)])
                self.table[len(rows)] = self.source[word]
                rows[word] = len(rows)
            return np.array([rows[word] for word in ngrams], np.int64), self.table


_profiles: dict[int, _Profiles] = {}
_start_state: dict[int, tuple[np.ndarray, int]] = {}


def detect(detector: Detector) -> str:
    """`detector.detect()` (a fresh detector, its text appended), with the trials compiled."""
    if detector.prior_map is not None or detector.verbose or detector.seed is None or not SUM_MATCHES:
        return detector.detect()  # (an unseeded detector draws from the OS: no answer to equal)
    detector.cleaning_text()
    ngrams = detector._extract_ngrams()
    if not ngrams:
        raise LangDetectException(ErrorCode.CantDetectError, "No features in text.")
    key = id(detector.word_lang_prob_map)
    profiles = _profiles.get(key) or _profiles.setdefault(
        key, _Profiles(detector.word_lang_prob_map, len(detector.langlist)))
    rows, table = profiles.rows_of(ngrams)
    words, position = _start_state.get(detector.seed) or _start_state.setdefault(
        detector.seed, _seeded_state(detector.seed))
    start = np.full(len(detector.langlist), 1.0 / len(detector.langlist))
    detector.langprob = _trials(rows, table, start, words.copy(), np.array([position], np.int64),
                                detector.n_trial, detector.alpha, detector.ALPHA_WIDTH,
                                float(detector.BASE_FREQ), detector.CONV_THRESHOLD,
                                detector.ITERATION_LIMIT, NEUMAIER_SUM).tolist()
    return detector.detect()  # langdetect's own ranking of `langprob`


def detect_language(text: str | None) -> str:
    """langdetect's answer for one text (`UNKNOWN` where it finds no feature)."""
    detector = _detector_factory().create()
    detector.append(text or "")
    try:
        return detect(detector)
    except LangDetectException:
        return UNKNOWN


def _detector_factory() -> detector_factory.DetectorFactory:
    # langdetect loads its profiles on first use into a global; two threads doing that at once
    # see a half-loaded list and answer differently, so the loading is done once, under a lock.
    with _FACTORY_LOCK:
        detector_factory.init_factory()
    return detector_factory._factory
