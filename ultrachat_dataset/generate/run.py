"""`generate`: the paper's construction loop against one OpenAI-compatible endpoint.

Stages, each resumable: openers (`openers.py`), then dialogues: the user model continues the
conversation as the user (briefly, casually, in a persona), the assistant model answers, for the
sector's number of rounds. Finished dialogues are appended to `OUT/work/<sector>/` as they come
(in any order); the release-format files are written at the end, in dialogue order, aside and
renamed into place: `OUT/generated_<sector>.jsonl` (`{"id", "data"}`, what `ultrachat prepare
--data-dir OUT` reads) and `OUT/generated_<sector>.meta.jsonl` (topic, writing type, template,
models, token usage of each dialogue).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from ..errors import ConfigError
from ..progress import progress_bar
from .client import ChatClient, EndpointError, GivenUp
from .openers import build_openers, chance, finish_opener, read_entities, read_passages
from .prompts import Prompts
from .seeds import LANGUAGES, PERSONAS, ROUNDS
from .store import JsonlStore

GENERATED_PREFIX = "generated_"
_THANKS_LINE = re.compile(r"(?i)^\W*(?:ok(?:ay)?|great|perfect|awesome|cool)?\W*(?:thanks?|thank you|thx)"
                          r"\b[^?]{0,80}$")
_THANKS_LEAD = re.compile(r"(?i)^\W*(?:thanks?|thank you)(?: so much| a lot| very much)?"
                          r"(?: for [^.!?\n]{0,80})?[.!,]+\s*")
_SPEAKER = re.compile(r"(?i)^\s*(?:user|person|me|human)\s*:\s*")


@dataclass
class GenerateOptions:
    sector: str
    endpoint: str
    model: str
    out: Path
    dialogues: int = 100
    user_model: str | None = None  # default: the same model plays the user
    seed: int = 0
    concurrency: int = 16
    language: str = "en"
    shard: tuple[int, int] = (0, 1)  # (i, n): this machine makes dialogues i, i + n, i + 2n, ...
    prompts: Path | None = None
    entities: Path | None = None
    passages: Path | None = None
    api_key: str | None = None
    timeout: float = 120.0
    max_retries: int = 6
    temperature: float = 0.8
    max_tokens: int | None = None
    subtopics_per_topic: int = 20
    questions_per_subtopic: int = 10
    related_per_question: int = 10  # 0: no related questions
    meta_questions_per_entity: int = 5
    instructions_per_request: int = 20
    instructions_per_passage: int = 5
    expand_share: float = 0.8
    price_prompt: float | None = None  # money a million prompt tokens costs, for the summary
    price_completion: float | None = None  # and a million completion tokens
    until: str = "dialogues"  # "openers": stop after the openers (run them once, share OUT/work)

    def __post_init__(self):
        """Every option is checked here, before any request: one clear error each."""
        if self.sector not in ROUNDS:
            raise ConfigError(f"unknown sector {self.sector!r}: choose from {', '.join(ROUNDS)}")
        parts = urlsplit(str(self.endpoint))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"--endpoint {self.endpoint!r} is not an http(s) URL: give the server's "
                              "base URL, e.g. http://localhost:8000/v1")
        index, count = self.shard
        if not 0 <= index < count:
            raise ConfigError(f"--shard {index}/{count}: give i/n with 0 <= i < n")
        for name, value, least in (("--dialogues", self.dialogues, 1), ("--concurrency", self.concurrency, 1),
                                   ("--max-retries", self.max_retries, 0)):
            if value < least:
                raise ConfigError(f"{name} {value}: give a whole number of at least {least}")
        for name, value in (("--timeout", self.timeout), ("--max-tokens", self.max_tokens)):
            if value is not None and value <= 0:
                raise ConfigError(f"{name} {value}: give a number above 0")
        if not 0 <= self.temperature <= 2:
            raise ConfigError(f"--temperature {self.temperature}: give a number from 0 to 2")
        prices = (("--price-prompt", self.price_prompt), ("--price-completion", self.price_completion))
        for name, value in prices:
            if value is not None and value < 0:
                raise ConfigError(f"{name} {value}: a price is not negative")
        self.out = Path(self.out)
        if self.out.exists() and not self.out.is_dir():
            raise ConfigError(f"--out {self.out} is a file: give a folder (new, or one a run wrote)")
        if self.prompts is not None and not Path(self.prompts).is_dir():
            raise ConfigError(f"--prompts {self.prompts} is not a folder")
        if self.sector == "assistance" or self.passages:
            read_passages(self.passages)  # readable, UTF-8, with at least one text
        if self.entities:
            read_entities(self.entities)

    def asked(self) -> int:
        """Dialogues this run (this shard) is asked to make."""
        index, count = self.shard
        return len(range(index, self.dialogues, count))


class Run:
    """One generation run: the client, the prompts, the stores and the request budget."""

    def __init__(self, options: GenerateOptions):
        self.options = options
        self.prompts = Prompts(options.prompts, options.language)
        self.client = ChatClient(options.endpoint, options.api_key, options.timeout,
                                 options.max_retries)
        self.work = options.out / "work" / options.sector
        self.requests = JsonlStore(self.work / "requests.jsonl")
        self.finished = JsonlStore(self.work / f"dialogues{_shard_suffix(options.shard)}.jsonl")
        self.failed: Counter = Counter()
        self.failed_examples: dict[str, str] = {}  # one detail a reason
        self._slots = asyncio.Semaphore(options.concurrency)

    async def ask(self, model: str, messages: list[dict], key, check=None,
                  usage: Counter | None = None) -> str:
        async with self._slots:
            text, counts = await self.client.ask(
                model, messages, seed=_request_seed(self.options.seed, key),
                temperature=self.options.temperature, max_tokens=self.options.max_tokens, check=check)
        if usage is not None:
            usage.update(counts)
        return text

    def note_failed(self, key, given_up: GivenUp) -> None:
        self.failed[given_up.reason] += 1
        self.failed_examples.setdefault(given_up.reason, given_up.detail)


def _request_seed(seed: int, key) -> int:
    return int(chance(seed, key) * 2**31)


def _shard_suffix(shard: tuple[int, int]) -> str:
    index, count = shard
    return "" if count == 1 else f"-{index:05d}-of-{count:05d}"


def generate(options: GenerateOptions, progress: bool = True) -> dict:
    """Run every stage; returns the summary (also written to OUT/work/<sector>/summary*.json)."""
    return asyncio.run(_generate(options, progress))


async def _generate(options: GenerateOptions, progress: bool) -> dict:
    run = Run(options)
    openers, mine = [], []
    try:
        openers = await build_openers(run, options.dialogues)
        if options.until == "openers":
            await asyncio.gather(*(finish_opener(run, item) for item in openers))
            return _summary(run, openers, [])
        index, count = options.shard
        mine = list(range(index, len(openers), count))
        # Longest dialogues first: the run does not end waiting on a few long ones started last.
        todo = sorted((number for number in mine if str(number) not in run.finished),
                      key=lambda number: -_plan(options, number)[0])
        with progress_bar(progress, total=len(mine), initial=len(mine) - len(todo), unit=" dialogues",
                          desc=f"generating {options.sector}") as bar:
            queue: asyncio.Queue = asyncio.Queue()
            for number in todo:
                queue.put_nowait(number)

            async def worker() -> None:
                while not queue.empty():
                    number = queue.get_nowait()
                    opener = await finish_opener(run, openers[number])
                    run.finished.add(await _dialogue(run, number, opener))
                    bar.update(1)
            await asyncio.gather(*(worker() for _ in range(min(options.concurrency, len(todo)) or 1)))
        _write_release_files(run, mine)
        return _summary(run, openers, mine)
    except EndpointError as error:  # what finished is kept (work/ and the release files)
        if mine:
            _write_release_files(run, mine)
        made = len(_kept(run, mine))
        raise EndpointError(f"{error}; {made} of {options.asked()} dialogues made, kept in {run.work}: "
                            "a rerun continues from there") from None
    finally:
        await _stop_the_others()
        await run.client.close()
        run.requests.close()
        run.finished.close()


async def _stop_the_others() -> None:
    """Cancel the requests still in flight (a run that stops, or ends, leaves none behind to
    use a closed client or store)."""
    others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)


async def _dialogue(run: Run, number: int, opener: dict) -> dict:
    """One dialogue, or a record of why it was dropped (never a half dialogue in the output)."""
    options, prompts = run.options, run.prompts
    rounds, persona = _plan(options, number)
    user_model = options.user_model or options.model
    system = prompts.render("assistant_system")
    turns = [opener["opener"]]
    usage: Counter = Counter()
    record = {"key": str(number), "id": f"{options.sector}-{number}", "rounds": rounds}
    try:
        for round_number in range(rounds):
            chat = [{"role": "system", "content": system}] + [
                {"role": "user" if position % 2 == 0 else "assistant", "content": turn}
                for position, turn in enumerate(turns)]
            turns.append(await run.ask(options.model, chat, (number, "assistant", round_number),
                                       usage=usage))
            if round_number + 1 < rounds:
                prompt = prompts.render("user_turn", persona=persona, transcript=_transcript(turns),
                                        follow_up=prompts.follow_up[options.sector])
                turns.append(without_thanks(await run.ask(
                    user_model, [{"role": "user", "content": prompt}], (number, "user", round_number),
                    check=lambda text: None if without_thanks(text) else "only_thanks", usage=usage)))
    except GivenUp as given_up:
        return {**record, "dropped": given_up.reason, "detail": given_up.detail, "usage": dict(usage)}
    meta = {key: value for key, value in opener.items() if key != "opener"}
    return {**record, "data": turns, "meta": {**meta, "model": options.model, "user_model": user_model,
                                              "language": options.language, "persona": persona},
            "usage": dict(usage)}


def _plan(options: GenerateOptions, number: int) -> tuple[int, str]:
    """Dialogue `number`'s rounds and the user's persona, fixed by the seed."""
    rng = np.random.default_rng([options.seed, number])
    low, high = ROUNDS[options.sector]
    rounds = int(rng.integers(low, high + 1))
    return rounds, PERSONAS[int(rng.integers(len(PERSONAS)))]


def without_thanks(text: str) -> str:
    """A simulated user's message without its thank-you lines and leading thanks (the paper
    strips these polite turns), and without a speaker label the model may have added."""
    text = _SPEAKER.sub("", text.strip())
    lines = [line for line in text.splitlines() if not _THANKS_LINE.match(line.strip())]
    return _THANKS_LEAD.sub("", "\n".join(lines).strip()).strip()


def _transcript(turns: list[str]) -> str:
    return "\n\n".join(f"{'User' if position % 2 == 0 else 'Assistant'}: {turn}"
                       for position, turn in enumerate(turns))


def _write_release_files(run: Run, mine: list[int]) -> None:
    """The finished dialogues of this shard, in order, as release rows and metadata rows."""
    options = run.options
    name = f"{GENERATED_PREFIX}{options.sector}{_shard_suffix(options.shard)}"
    rows, metas = [], []
    for record in _kept(run, mine):
        rows.append({"id": record["id"], "data": record["data"]})
        metas.append({"id": record["id"], "sector": options.sector, **record["meta"],
                      "usage": record["usage"]})
    for suffix, items in ((".jsonl", rows), (".meta.jsonl", metas)):
        final = options.out / f"{name}{suffix}"
        partial = final.with_name(f".{final.name}.partial")
        partial.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items),
                           encoding="utf-8")
        os.replace(partial, final)


def _kept(run: Run, mine: list[int]) -> list[dict]:
    """The finished, not dropped, dialogues of this shard, in order."""
    records = (run.finished.get(str(number)) for number in mine)
    return [record for record in records if record is not None and "dropped" not in record]


def _cost(tokens, options: GenerateOptions) -> float | None:
    """Money the tokens cost at the prices given (per million tokens); None without prices, or
    when a reply carried no token counts (the cost is then unknown, not what was counted)."""
    if options.price_prompt is None and options.price_completion is None:
        return None
    if tokens.get("requests_without_usage"):
        return None
    return (tokens.get("prompt_tokens", 0) * (options.price_prompt or 0)
            + tokens.get("completion_tokens", 0) * (options.price_completion or 0)) / 1e6


def _summary(run: Run, openers: list[dict], mine: list[int]) -> dict:
    records = [run.finished.get(str(number)) for number in mine]
    kept = _kept(run, mine)
    dropped = Counter(r["dropped"] for r in records if r and "dropped" in r)
    examples = dict(run.failed_examples)  # one detail a reason: what the server or the reply said
    for record in records:
        if record and "dropped" in record:
            examples.setdefault(record["dropped"], record.get("detail", ""))
    tokens = Counter()
    for record in kept:
        tokens.update(record["usage"])
    spent = _cost(tokens, run.options)
    summary = {
        "sector": run.options.sector, "asked": run.options.asked(), "openers": len(openers),
        "dialogues": len(kept),
        "dropped": dict(dropped), "dropped_examples": examples,
        "opener_requests_given_up": dict(run.failed),
        "this_run": run.client.usage.as_dict(),
        "per_dialogue": {key: value / max(len(kept), 1) for key, value in tokens.items()},
        "cost": {"this_run": _cost(run.client.usage.as_dict(), run.options),
                 "per_dialogue": None if spent is None else spent / max(len(kept), 1)},
        "options": {key: str(value) if isinstance(value, Path) else value
                    for key, value in asdict(run.options).items() if key != "api_key"},
        "language_code": LANGUAGES[run.options.language][1],
    }
    path = run.work / f"summary{_shard_suffix(run.options.shard)}.json"
    path.write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    return summary
