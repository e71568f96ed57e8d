"""Synthetic corpora in the exact release format, with the sector shapes and known defects.

The machines here reach no data host, so tests and benchmarks run on corpora written by
`synthesize`: JSON Lines `{"id", "data"}` under the release file names, deterministic per seed.
Each dialogue carries at most one defect, drawn at the rates given; `manifest.json` records how
many of each were written per file, so a test can expect exact reject counts.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..names import DEFECTS, FILE_DEFECTS  # noqa: F401  (re-exported)
from . import _synth_text as text
from .sources import HUB_FILES, TSINGHUA_FILES

# Bumped when the generator writes other text for the same options: benchmarks key their cached
# corpora on it (2: calibrated on real text).
CORPUS_VERSION = 2
_SENTENCE_END = re.compile(r"[a-z][.!?] (?=[A-Z])")  # where a sentence may go in between
# Share of dialogues per Tsinghua file, close to the release's sector sizes.
FILE_SHARES = {
    "ultrachat_release_230407.json": 0.39,
    "ultrachat_material_release_230412.json": 0.14,
    "ultrachat_material_release_230417.json": 0.21,
    "ultrachat_existent_material_release_230420.json": 0.26,
}
# Exchanges (user + assistant pairs) per dialogue, by sector: the README's 3~7 and 2~4 rounds.
EXCHANGES = {
    "world": ((3, 4, 5, 6, 7), (0.35, 0.30, 0.20, 0.10, 0.05)),
    "writing": ((2, 3, 4), (0.30, 0.40, 0.30)),
    "assistance": ((2, 3, 4), (0.30, 0.40, 0.30)),
}
USER_SENTENCES_MEAN = 3.0  # ~14 words a sentence: ~45 words a user turn (plus openers)
ASSISTANT_SENTENCES_MEAN = 34.0  # ~430 words: with the short answers, ~300 LLaMA tokens an utterance
MATERIAL_SENTENCES = (10, 22)  # pasted material in assistance openers: ~750-1,700 characters

# The shapes of real assistant turns (shares measured on the real sample, ../shared/real-sample,
# as turns of all roles: a numbered list in ~10% of turns is one in ~19% of answers).
ANSWER_SHAPES = {"short": 0.12, "numbered": 0.17, "recipe": 0.02, "bullets": 0.055, "code": 0.02,
                 "headings": 0.009}  # the rest: paragraphs of prose
TYPOGRAPHY_SHARE = 0.17  # of turns: curly quotes, dashes, degrees, accents, pounds, trade marks
CASING_TRAP_SHARE = 0.03  # of answers: names with !, abbreviations, quotations (must stay as written)
CAPABILITY_SHARE = 0.021  # of answers opening "I do not have access to real-time ..."
AI_IDENTITY_SHARE = 0.001  # of answers opening "As an AI language model, ..."


@dataclass
class SynthOptions:
    dialogues: int = 1000
    seed: int = 0
    defect_rates: dict[str, float] = field(default_factory=dict)
    file_defects: tuple[str, ...] = ()
    layout: str = "tsinghua"  # or "hub": ten shards train_*.jsonl with no sector
    gzip: bool = False
    length_scale: float = 1.0  # < 1 for small samples

    def __post_init__(self):
        unknown = set(self.defect_rates) - set(DEFECTS)
        unknown |= set(self.file_defects) - set(FILE_DEFECTS)
        if unknown:
            raise ConfigError(f"unknown defect kind {', '.join(sorted(unknown))}: choose from "
                              f"{', '.join(DEFECTS + FILE_DEFECTS)}")
        if sum(self.defect_rates.values()) > 1:
            raise ConfigError("defect rates add up to more than 1")
        if self.layout not in ("tsinghua", "hub"):
            raise ConfigError(f"unknown layout {self.layout!r}: choose 'tsinghua' or 'hub'")


def parse_defect_rates(spec: str) -> dict[str, float]:
    """`"invalid_json=0.01,duplicate=0.02"` or `"all=0.05"` (the rate shared by every kind)."""
    rates: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, value = item.partition("=")
        try:
            rate = float(value)
        except ValueError:
            raise ConfigError(f"defect rate {item!r} is not NAME=RATE (e.g. duplicate=0.01)") from None
        if name == "all":
            rates.update({kind: rate / len(DEFECTS) for kind in DEFECTS})
        else:
            rates[name] = rate
    return rates


class _Composer:
    """Draws sentences, turns and dialogues from the word lists with one seeded generator."""

    def __init__(self, rng: np.random.Generator, length_scale: float):
        self.rng = rng
        self.length_scale = length_scale
        self.pool = [self._fill(self._pick(text.SENTENCE_TEMPLATES)) for _ in range(6000)]

    def _pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def _fill(self, template: str, **extra) -> str:
        verb = self._pick(text.VERBS)
        adjective = self._pick(text.ADJECTIVES)
        words = {"adj": adjective, "Adj": adjective.capitalize(), "noun": self._pick(text.NOUNS),
                 "noun2": self._pick(text.NOUNS), "noun3": self._pick(text.NOUNS),
                 "verb": verb, "verb2": self._pick(text.VERBS), "verb_base": verb.removesuffix("s"),
                 "adv": self._pick(text.ADVERBS), "topic": self._pick(text.TOPICS),
                 "form": self._pick(text.WRITING_FORMS), "dish": self._pick(text.DISHES)}
        words.update(extra)
        return template.format(**words)

    def paragraph(self, mean_sentences: float, pool=None) -> str:
        pool = pool or self.pool
        count = 1 + int(self.rng.poisson(max(mean_sentences * self.length_scale - 1, 0)))
        picks = self.rng.integers(len(pool), size=count)
        return " ".join(pool[i] for i in picks)

    def opener(self, sector: str) -> str:
        if sector == "world":
            return self._fill(self._pick(text.WORLD_OPENERS))
        if sector == "writing":
            opener = self._fill(self._pick(text.WRITING_OPENERS))
            if self.rng.random() < 0.8:  # the README: 80% of instructions are further detailed
                opener += self._fill(self._pick(text.WRITING_DETAILS))
            return opener
        instruction = self._fill(self._pick(text.ASSISTANCE_INSTRUCTIONS))
        material = self.paragraph(self.rng.integers(*MATERIAL_SENTENCES) / self.length_scale)
        return self._fill(self._pick(text.ASSISTANCE_TEMPLATES + text.MATERIAL_QUESTIONS),
                          material=material, instruction=instruction,
                          instruction_lower=instruction[0].lower() + instruction[1:])

    def dialogue(self, sector: str) -> list[str]:
        choices, weights = EXCHANGES[sector]
        exchanges = int(self.rng.choice(choices, p=weights))
        turns = []
        for index in range(exchanges):
            user = self.opener(sector) if index == 0 else self._fill(self._pick(text.FOLLOW_UPS))
            if index and self.rng.random() < 0.5:
                user += " " + self.paragraph(USER_SENTENCES_MEAN - 1)
            turns += [self._typography(user), self._typography(self.answer())]
        return turns

    def answer(self) -> str:
        """An assistant turn in one of the real shapes: prose, a short answer, a numbered or
        bulleted list, a recipe, code, sections under headings."""
        shapes, shares = list(ANSWER_SHAPES), list(ANSWER_SHAPES.values())
        draw = self.rng.random()
        shape = shapes[int(np.searchsorted(np.cumsum(shares), draw, side="right"))] \
            if draw < sum(shares) else "prose"
        if shape == "short":
            return self._fill(self._pick(text.SHORT_ANSWERS))
        mean = ASSISTANT_SENTENCES_MEAN
        if shape == "numbered":
            body = self._list(lambda n: f"{n}. ", mean)
        elif shape == "bullets":
            body = self._list(lambda n: "- ", mean)
        elif shape == "recipe":
            body = (self._fill(self._pick(text.RECIPE_INTROS)) + "\n\nIngredients:\n"
                    + "\n".join(f"- {item}" for item in self._some(text.INGREDIENTS, 4, 8))
                    + "\n\nInstructions:\n"
                    + "\n".join(f"{n}. {step}" for n, step in
                                 enumerate(self._some(text.RECIPE_STEPS, 3, 6), 1))
                    + "\n\n" + self.paragraph(mean / 4))
        elif shape == "code":
            body = (self.paragraph(mean / 6) + "\n\n" + self._pick(text.CODE_SNIPPETS) + "\n\n"
                    + self.paragraph(mean / 3))
        elif shape == "headings":
            body = "\n\n".join(self._fill(self._pick(text.HEADINGS)) + "\n\n" + self.paragraph(mean / 3)
                                for _ in range(3))
        else:
            body = "\n\n".join(self.paragraph(mean / 3) for _ in range(3))
        if self.rng.random() < CASING_TRAP_SHARE:
            body += " " + self._fill(self._pick(text.CASING_TRAPS))
        draw = self.rng.random()
        if draw < CAPABILITY_SHARE:
            body = self._fill(self._pick(text.CAPABILITY_DISCLAIMERS)) + " " + body
        elif draw < CAPABILITY_SHARE + AI_IDENTITY_SHARE:
            body = self._fill(self._pick(text.AI_IDENTITY_OPENERS)) + " " + body
        return body

    def _list(self, marker, mean: float) -> str:
        items = self._some(range(3, 9), 1, 1)[0]
        lines = [marker(n) + self._fill(self._pick(text.LIST_ITEMS)) + " " + self.paragraph(mean / 12)
                 for n in range(1, items + 1)]
        return (self._fill(self._pick(text.LIST_INTROS)) + "\n\n" + "\n".join(lines) + "\n\n"
                + self._fill(self._pick(text.LIST_OUTROS)))

    def _some(self, options, least: int, most: int) -> list:
        count = int(self.rng.integers(least, most + 1))
        return [options[i] for i in sorted(self.rng.choice(len(options), size=min(count, len(options)),
                                                           replace=False))]

    def _typography(self, turn: str) -> str:
        """Some turns get a sentence of ordinary typography after their first sentence (11% of
        all turns: short ones and one-sentence ones are left as they are)."""
        if self.rng.random() >= TYPOGRAPHY_SHARE or len(turn) < 200:
            return turn
        first = _SENTENCE_END.search(turn)
        if first is None:
            return turn
        cut = first.end()
        return turn[:cut] + self._fill(self._pick(text.TYPOGRAPHY_SENTENCES)) + " " + turn[cut:]

    def foreign_dialogue(self, language: str, exchanges: int) -> list[str]:
        pool = text.FOREIGN_SENTENCES[language]
        return [self.paragraph(mean, pool) for _ in range(exchanges) for mean in (2, 8)]


def synthesize(out_dir: str | Path, options: SynthOptions | None = None, **kwargs) -> dict:
    """Write a corpus to `out_dir` and return its manifest (also written as manifest.json)."""
    options = options or SynthOptions(**kwargs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(options.seed)
    composer = _Composer(rng, options.length_scale)
    plan = _file_plan(options)
    defect_names = sorted(options.defect_rates)
    defect_p = [options.defect_rates[name] for name in defect_names]
    manifest = {"corpus_version": CORPUS_VERSION,
                "options": {"dialogues": options.dialogues, "seed": options.seed,
                            "defect_rates": options.defect_rates,
                            "file_defects": list(options.file_defects),
                            "layout": options.layout, "gzip": options.gzip}, "files": {}}
    recent: deque = deque(maxlen=2000)  # bounded, so memory stays flat at any corpus size
    for name, sectors in plan:
        manifest["files"][name] = _write_file(out / (name + (".gz" if options.gzip else "")),
                                              sectors, composer, rng, defect_names, defect_p,
                                              options, recent)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _file_plan(options: SynthOptions) -> list[tuple[str, list[str]]]:
    """(file name, the sector of each of its dialogues), sizes by `FILE_SHARES`."""
    shares = np.array(list(FILE_SHARES.values()))
    counts = np.floor(shares * options.dialogues).astype(int)
    counts[0] += options.dialogues - counts.sum()
    sectors = [f.sector for f in TSINGHUA_FILES]
    if options.layout == "tsinghua":
        return [(f.name, [f.sector] * int(n)) for f, n in zip(TSINGHUA_FILES, counts)]
    mixed = [sector for sector, n in zip(sectors, counts) for _ in range(int(n))]
    order = np.random.default_rng(options.seed + 1).permutation(len(mixed))
    shards = np.array_split(order, len(HUB_FILES))
    return [(f.name, [mixed[i] for i in shard]) for f, shard in zip(HUB_FILES, shards)]


def _write_file(path: Path, sectors: list[str], composer: _Composer, rng: np.random.Generator,
                defect_names: list[str], defect_p: list[float], options: SynthOptions,
                written: deque) -> dict:
    """Write one file; `written` holds recent clean dialogues (of any file) to duplicate."""
    counts: Counter = Counter()
    defect_lines: dict[str, list[int]] = {}
    lines: list[bytes] = []
    draws = rng.random(len(sectors))
    cumulative = np.cumsum(defect_p) if defect_p else np.zeros(0)
    for index, sector in enumerate(sectors):
        dialogue = composer.dialogue(sector)
        defect = None
        if len(cumulative) and draws[index] < cumulative[-1]:
            defect = defect_names[int(np.searchsorted(cumulative, draws[index], side="right"))]
        if defect in ("duplicate", "near_duplicate") and not written:
            defect = None
        record = {"id": str(index), "data": dialogue}
        extra_lines = _apply_defect(defect, record, composer, rng, written)
        line = _encode(defect, record, rng)
        if defect is None:  # only clean dialogues are copied, so a copy has one defect
            written.append(list(record["data"]))
        lines.extend(extra_lines)
        lines.append(line)
        if defect:
            counts[defect] += 1
            # The line that carries the defect: the extra blank line, or the dialogue's own.
            defect_lines.setdefault(defect, []).append(len(lines) - (1 if extra_lines else 0))
        counts["dialogues"] += 1
        if sector:
            counts[f"sector_{sector}"] += 1
    if "truncated_last_line" in options.file_defects and lines:
        lines[-1] = lines[-1][: max(len(lines[-1]) // 2, 1)]
        counts["truncated_last_line"] = 1
        defect_lines["truncated_last_line"] = [len(lines)]
    newline = b"\r\n" if "crlf" in options.file_defects else b"\n"
    body = newline.join(lines)
    if "truncated_last_line" not in options.file_defects:
        body += newline
    if "bom" in options.file_defects:
        body = b"\xef\xbb\xbf" + body
    if options.gzip:
        with gzip.GzipFile(path, "wb", compresslevel=1, mtime=0) as handle:
            handle.write(body)
    else:
        path.write_bytes(body)
    return {"lines": len(lines), **dict(sorted(counts.items())),
            "defect_lines": dict(sorted(defect_lines.items()))}


def _apply_defect(defect, record, composer, rng, written) -> list[bytes]:
    """Change `record` in place for content defects; return extra lines to write before it."""
    data = record["data"]
    if defect == "blank_line":
        return [b"", b"   "][int(rng.integers(2)):][:1]
    if defect == "duplicate":
        record["data"] = list(written[int(rng.integers(len(written)))])
        if rng.random() < 0.5:  # differs only in case and spacing: still an exact duplicate
            record["data"][0] = "  " + record["data"][0].upper() + " "
    elif defect == "near_duplicate":  # about 1 word in 100 replaced in every turn
        source = written[int(rng.integers(len(written)))]
        record["data"] = [_replace_words(turn, composer, rng, 0.01) for turn in source]
    elif defect == "mojibake":
        record["data"] = [_sloppy_cp1252(turn.replace("'", "\u2019").replace(" is ", " is\u00a0")
                                         .encode("utf-8")) for turn in data]
        record["data"][1] = "Caf\u00c3\u00a9 owners say it\u00e2\u20ac\u2122s " + record["data"][1]
    elif defect == "non_english":
        language = sorted(text.FOREIGN_SENTENCES)[int(rng.integers(len(text.FOREIGN_SENTENCES)))]
        record["data"] = composer.foreign_dialogue(language, len(data) // 2)
    elif defect == "cp1256_mojibake":  # UTF-8 read as Windows-1256: "Vortex®" -> "Vortexآ®"
        sentence = composer._pick(text.LATIN1_SENTENCES)
        data[1] = data[1] + " " + sentence.encode("utf-8").decode("cp1256", "replace")
    elif defect == "replacement_character":  # a character lost before the release: "Dad�s"
        data[1] = data[1].replace(" the ", " the\ufffd", 1) if " the " in data[1] else data[1] + " \ufffd"
    elif defect == "lowercase_paragraph":
        paragraph = composer.paragraph(3)
        data[1] = data[1] + "\n\n" + paragraph[0].lower() + paragraph[1:]
    elif defect == "casing":
        # In an answer: a user turn may quote pasted material, where casing is left as written.
        data[1] = "Sure. " + data[1][0].lower() + data[1][1:]
    elif defect == "self_disclaimer":
        data[1] = composer._pick(text.SELF_DISCLAIMERS) + " " + data[1]
    elif defect == "polite_closing":
        data.extend(composer._pick(text.POLITE_CLOSINGS))
    elif defect == "benchmark_prompt":
        data[0] = composer._pick(text.BENCHMARK_PROMPTS)
    elif defect == "missing_id":
        del record["id"]
    elif defect == "odd_turns":
        data.append(composer._fill(composer._pick(text.FOLLOW_UPS)))
    elif defect == "empty_turn":
        data[1 + 2 * int(rng.integers(len(data) // 2))] = "  "
    elif defect == "no_exchange":
        record["data"] = data[:1]
    elif defect == "numeric_id":
        record["id"] = int(record["id"])
    elif defect == "extra_field":
        record["meta"] = {"model": "gpt-3.5-turbo", "tags": [1, 2, {"x": None}]}
    elif defect == "data_not_list":
        record["data"] = "\n".join(data)
    elif defect == "turn_not_string":
        data[1] = 42
    return []


def _sloppy_cp1252(data: bytes) -> str:
    """Bytes read as Windows-1252 the way real mojibake was made: the five bytes it leaves
    undefined become the C1 controls of the same number (as ftfy's "sloppy" codec reads them)."""
    return "".join(chr(byte) if byte in (0x81, 0x8D, 0x8F, 0x90, 0x9D) else bytes([byte]).decode("cp1252")
                   for byte in data)


def _replace_words(turn: str, composer: _Composer, rng: np.random.Generator, share: float) -> str:
    words = turn.split(" ")
    for position in rng.integers(len(words), size=max(1, int(len(words) * share))):
        noun = composer._pick(text.NOUNS)
        words[position] = noun.capitalize() if words[position][:1].isupper() else noun
    return " ".join(words)


def _encode(defect: str | None, record: dict, rng: np.random.Generator) -> bytes:
    if defect == "json_too_deep":  # deeper than Python's json can recurse, so written by hand
        head = json.dumps({"id": record["id"]})[:-1].encode()
        return head + b', "data": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    if defect == "not_an_object":
        return json.dumps(record.get("data"), ensure_ascii=False).encode()
    line = json.dumps(record, ensure_ascii=False).encode("utf-8")
    if defect == "invalid_json":
        return line[: len(line) // 2] + b"\"}"  # an unterminated list: cut and closed wrongly
    if defect == "invalid_utf8":
        return line.replace(b" the ", b" th\xff\xfe ", 1)
    if defect == "lone_surrogate":
        return line.replace(b" the ", b" the \\ud800 ", 1)
    return line
