"""langdetect, seeded (the same answer on every run, thread and process), compiled: the answer
`Detector.detect` gives, ~7x faster (0.26 ms against 1.8 ms a 300-character text).

langdetect cuts a text into n-grams (one Python step a character), then decides by 7 trials of
a random walk over them. Each trial draws an alpha from a Gaussian, then n-grams at random,
multiplying 55 language probabilities by each n-gram's profile and normalising every 5 draws,
until one language passes 0.99999: ~300 draws of 55 multiplications a text. Both steps are
compiled here, over the same tables, the same random stream and the same floating-point
operations in the same order:
- the n-grams: `NGram.normalize` and `str.isupper` read off per character of the first plane (a
  text with a character beyond it takes langdetect's own pass), the n-grams as numbers;
- the stream: Python's Mersenne Twister (from the state `random.Random.seed` leaves), its
  `getrandbits` rejection sampling for `choice`, and `gauss` (two `random()` draws, a value kept
  for the next call), as CPython's `random` computes them;
- the sums: the interpreter's own `sum` of floats (left to right before Python 3.12, Neumaier's
  compensated sum since), checked against it at the first detection (`sum_matches`).
- the cleaning (`cleaned_text`): its counts of Latin letters and of later characters, over the
  text's code points at once, each distinct one asked of langdetect's own `unicode_block`.
langdetect's own code still appends the text and ranks the languages; tests hold the cleaned
text, the n-grams, the answers and the probabilities equal to langdetect's on hard text.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import random
import sys
import tempfile
import threading
import unicodedata
import zipfile
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

import numba
import numpy as np
from langdetect import DetectorFactory, detector_factory
from langdetect.detector import Detector
from langdetect.lang_detect_exception import ErrorCode, LangDetectException
from langdetect.utils.ngram import NGram
from langdetect.utils.unicode_block import unicode_block

from ..layout import cache_root

log = logging.getLogger(__name__)
UNKNOWN = "unknown"
DetectorFactory.seed = 0  # each detector seeds its own generator with this: deterministic
_FACTORY_LOCK = threading.Lock()
_factory: DetectorFactory | None = None

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


@functools.cache
def sum_matches() -> bool:
    """Whether `_sum` is this interpreter's `sum` on lists that round differently either way
    (asked once, at the first detection: a run that detects nothing does not pay for it)."""
    generator = np.random.default_rng(0)
    for _ in range(200):
        values = generator.random(55) ** generator.integers(1, 40)
        if _sum(values, NEUMAIER_SUM) != sum(values.tolist()):
            return False
    return True


def code_points(text: str) -> np.ndarray:
    """The text's code points (a lone surrogate, which langdetect can be given, as itself)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)


_BASE = 0x110001  # an n-gram of 1-3 code points as one number: its digits are code point + 1


def _ngram_key(word: str) -> int:
    key = 0
    for char in word:
        key = key * _BASE + ord(char) + 1
    return key


@numba.njit(cache=True, nogil=True)
def _ngram_positions(codes, normal, upper, keys):  # pragma: no cover (compiled)
    """`Detector._extract_ngrams` over the code points of a text (all in the first plane): each
    n-gram it keeps, as its position in `keys` (the profiles' n-grams, sorted). `normal` and
    `upper`: langdetect's `NGram.normalize` of each code point, and `str.isupper` of that."""
    found = np.empty(3 * len(codes), np.int64)
    count = 0
    grams = np.empty(3, np.int64)  # `NGram.grams`: its last 3 characters at most
    grams[0], size, capital = 32, 1, False
    for code in codes:
        char = normal[code]
        last = grams[size - 1]
        if last == 32:  # after a space a new word starts (a second space gives nothing: no
            grams[0], size, capital = 32, 1, False  # profile n-gram holds two)
        elif size == 3:
            grams[0], grams[1], size = grams[1], grams[2], 2
        grams[size] = char
        size += 1
        if not upper[char]:
            capital = False
        elif upper[last]:  # (a capital after a lower-case letter leaves it as it was)
            capital = True
        if capital:  # a word in capitals gives no n-gram
            continue
        for n in range(1, min(size, 3) + 1):  # (a lone space is no profile's n-gram)
            key = 0
            for k in range(size - n, size):
                key = key * _BASE + grams[k] + 1
            position = np.searchsorted(keys, key)
            if position < len(keys) and keys[position] == key:
                found[count] = position
                count += 1
    return found[:count]


class _Model:
    """langdetect's profiles as arrays: its languages (`langlist`), the n-grams as sorted numbers
    (`keys`, by `_ngram_key`), their 55 probabilities as rows of `table` in the same order, and
    its n-gram normalisation (`normal`) and capital test (`upper`) per character of the first
    plane (read off `NGram` itself)."""

    ARRAYS = ("langlist", "keys", "table", "normal", "upper")

    def __init__(self, langlist: np.ndarray, keys: np.ndarray, table: np.ndarray, normal: np.ndarray,
                 upper: np.ndarray):
        self.langlist, self.keys, self.table, self.normal, self.upper = langlist, keys, table, normal, upper

    @classmethod
    def of_profiles(cls, word_lang_prob_map: dict[str, list[float]], langlist: list[str]) -> _Model:
        """From langdetect's own map (n-gram -> its probability in each language)."""
        keyed = sorted((_ngram_key(word), word) for word in word_lang_prob_map)
        normal = np.array([ord(NGram.normalize(chr(point))) for point in range(0x10000)], np.int64)
        return cls(np.array(langlist), np.array([key for key, _ in keyed], np.int64),
                   np.array([word_lang_prob_map[word] for _, word in keyed], np.float64).reshape(
                       len(keyed), len(langlist)),
                   normal, np.array([chr(point).isupper() for point in normal.tolist()], np.bool_))

    def ngrams(self, detector: Detector) -> np.ndarray:
        """The positions of the n-grams `detector._extract_ngrams()` would give, in its order."""
        codes = code_points(detector.text)
        if len(codes) and codes.max() >= 0x10000:  # beyond the tables: langdetect's own pass
            keys = np.array([_ngram_key(word) for word in detector._extract_ngrams()], np.int64)
            return np.searchsorted(self.keys, keys)
        return _ngram_positions(codes, self.normal, self.upper, self.keys)

    def row(self, word: str) -> int | None:
        """The row of an n-gram, None for one no profile holds."""
        if not isinstance(word, str) or not 1 <= len(word) <= 3:
            return None
        key = _ngram_key(word)
        row = int(np.searchsorted(self.keys, key))
        return row if row < len(self.keys) and self.keys[row] == key else None


class _Profiles(Mapping):
    """langdetect's `word_lang_prob_map` read off a `_Model`'s arrays: `in` and `[]` are all its
    `Detector` asks of it (where it runs its own pass). langdetect's own loader makes ~90k lists
    of 55 floats (0.4 s and ~40 MB more a process)."""

    def __init__(self, model: _Model):
        self.model = model

    def __contains__(self, word) -> bool:
        return self.model.row(word) is not None

    def __getitem__(self, word: str) -> list[float]:
        row = self.model.row(word)
        if row is None:
            raise KeyError(word)
        return self.model.table[row].tolist()

    def __iter__(self):
        for key in self.model.keys.tolist():
            word = ""
            while key:
                key, digit = divmod(key, _BASE)
                word = chr(digit - 1) + word
            yield word

    def __len__(self) -> int:
        return len(self.model.keys)


# What the cached arrays are made from: a change to any of them makes a new cache file.
_CACHE_FORMAT = "1"


def _cache_path() -> Path:
    digest = hashlib.blake2b(digest_size=12)
    for part in (_CACHE_FORMAT, metadata.version("langdetect"), unicodedata.unidata_version):
        digest.update(part.encode() + b"\0")
    for path in sorted(Path(detector_factory.PROFILES_DIRECTORY).iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return cache_root() / "langdetect" / f"profiles-{digest.hexdigest()}.npz"


def _cached_model() -> _Model:
    """The arrays of langdetect's profiles, from the cache (~10 ms), or built from langdetect's
    own loader (~0.8 s) and cached: an unreadable cache file is built again, and one that
    cannot be written is only logged (the arrays are used all the same)."""
    path = _cache_path()
    try:
        with np.load(path, allow_pickle=False) as stored:
            return _Model(*(stored[name] for name in _Model.ARRAYS))
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        log.warning("langdetect's cached profiles %s are unreadable (%s): building them again", path, error)
    factory = DetectorFactory()
    factory.load_profile(detector_factory.PROFILES_DIRECTORY)
    model = _Model.of_profiles(factory.word_lang_prob_map, factory.langlist)
    try:
        _save(model, path)
    except OSError as error:
        log.info("langdetect's profiles not cached in %s (%s)", path.parent, error)
    return model


def _save(model: _Model, path: Path) -> None:
    """Written aside, then renamed: another process may be reading the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, partial = tempfile.mkstemp(dir=path.parent, prefix=".profiles-", suffix=".partial")
    try:
        with os.fdopen(descriptor, "wb") as file:
            np.savez(file, **{name: getattr(model, name) for name in _Model.ARRAYS})
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise


_models: dict[int, _Model] = {}
_start_state: dict[int, tuple[np.ndarray, int]] = {}


def model_of(detector: Detector) -> _Model:
    """The arrays of the detector's profiles: those of `_detector_factory`, or built once a
    process for a detector of another factory (langdetect's own, say)."""
    profiles = detector.word_lang_prob_map
    if isinstance(profiles, _Profiles):
        return profiles.model
    key = id(profiles)
    return _models.get(key) or _models.setdefault(key, _Model.of_profiles(profiles, detector.langlist))


def detect(detector: Detector) -> str:
    """`detector.detect()` (a fresh detector, its text appended), with the trials compiled."""
    if detector.prior_map is not None or detector.verbose or detector.seed is None or not sum_matches():
        return detector.detect()  # (an unseeded detector draws from the OS: no answer to equal)
    detector.text = cleaned_text(detector.text)
    model = model_of(detector)
    positions = model.ngrams(detector)
    if not len(positions):
        raise LangDetectException(ErrorCode.CantDetectError, "No features in text.")
    table = model.table
    words, position = _start_state.get(detector.seed) or _start_state.setdefault(
        detector.seed, _seeded_state(detector.seed))
    start = np.full(len(detector.langlist), 1.0 / len(detector.langlist))
    detector.langprob = _trials(positions, table, start, words.copy(), np.array([position], np.int64),
                                detector.n_trial, detector.alpha, detector.ALPHA_WIDTH,
                                float(detector.BASE_FREQ), detector.CONV_THRESHOLD,
                                detector.ITERATION_LIMIT, NEUMAIER_SUM).tolist()
    return detector.detect()  # langdetect's own ranking of `langprob`


def cleaned_text(text: str) -> str:
    """`Detector.cleaning_text`: a text with more than twice as many characters from U+0300 on
    (but those langdetect's `unicode_block` names Latin Extended Additional) as characters
    from "A" to "z" loses the latter. langdetect reads the characters one Python step each
    (0.16 ms a 300-character Cyrillic text); here each distinct one is asked once (0.02 ms)."""
    points = code_points(text)
    latin = (points >= 0x41) & (points <= 0x7A)
    later, counts = np.unique(points[points >= 0x300], return_counts=True)
    non_latin = sum(count for point, count in zip(later.tolist(), counts.tolist())
                    if unicode_block(chr(point)) != "Latin Extended Additional")
    if 2 * int(latin.sum()) >= non_latin:
        return text
    return points[~latin].tobytes().decode("utf-32-le", "surrogatepass")


def detect_language(text: str | None) -> str:
    """langdetect's answer for one text (`UNKNOWN` where it finds no feature)."""
    detector = _detector_factory().create()
    detector.append(text or "")
    try:
        return detect(detector)
    except LangDetectException:
        return UNKNOWN


def _detector_factory() -> DetectorFactory:
    """A langdetect factory whose detectors read the profiles off cached arrays (`_Profiles`);
    langdetect's own global one is left as it is. Made once, under a lock: two threads loading
    at once would each pay for it."""
    global _factory
    with _FACTORY_LOCK:
        if _factory is None:
            model = _cached_model()
            factory = DetectorFactory()
            factory.word_lang_prob_map = _Profiles(model)
            factory.langlist = model.langlist.tolist()
            _factory = factory
    return _factory
