"""The first user turn of every dialogue, built the paper's way for each sector, as a list in a
fixed order (the same on every run and every shard; with a seeded endpoint, the same texts).

- world: meta-topic -> subtopics -> questions -> related questions (and, with `entities`,
  entity -> meta-questions -> questions), taken round-robin over the meta-topics so that a
  small run still covers all of them;
- writing: writing type -> instructions, most of them expanded with concrete detail;
- assistance: passage -> instructions, joined to the passage by a template.

Every request's answer is kept in the run's store under a key naming what was asked, so a rerun
asks nothing twice. A request given up (its replies refused, empty or malformed every time) is
not an answer: it counts as no items for this run and is asked again by the next one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from pathlib import Path

from ..errors import ConfigError
from .client import GivenUp
from .prompts import lines_of
from .seeds import ASSISTANCE_TEMPLATES, META_TOPICS, WRITING_TYPES

MAX_ROUNDS = 1000  # of opener requests: an endpoint that answers nothing usable cannot loop forever


def chance(*parts) -> float:
    """A number in [0, 1) fixed by `parts` (a stable hash): seeded choices per item."""
    digest = hashlib.blake2b(json.dumps(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


async def build_openers(run, needed: int) -> list[dict]:
    """The openers' list; an item may still need `finish_opener` (one request of its own) before
    its dialogue starts, so that those requests run beside the dialogues, not in a wave before."""
    builders = {"world": _world, "writing": _writing, "assistance": _assistance}
    return (await builders[run.options.sector](run, needed))[:needed]


async def finish_opener(run, item: dict) -> dict:
    """The item with its final `opener`: writing instructions are expanded with concrete detail
    (for `expand_share` of them, chosen by the seed); other sectors' openers are final."""
    if "opener" in item:
        return item
    item = {**item, "opener": item["instruction"]}
    if chance(run.options.seed, "expand", item["instruction"]) < run.options.expand_share:
        found = await _items(run, f"expand|{item['instruction']}", run.prompts.render(
            "writing_expand", instruction=item["instruction"]), 1)
        if found:
            item["opener"], item["expanded"] = found[0], True
    return item


async def _items(run, key: str, prompt: str, most: int) -> list[str]:
    """One list request, from the store if it was asked before; a failed one is not stored."""
    done = run.requests.get(key)
    if done is None:
        try:
            reply = await run.ask(run.options.model, [{"role": "user", "content": prompt}], key)
        except GivenUp as given_up:
            run.note_failed(key, given_up)
            return []
        done = {"key": key, "items": lines_of(reply, most)}
        run.requests.add(done)
    return done["items"]


async def _world(run, needed: int) -> list[dict]:
    options, prompts = run.options, run.prompts
    # A small run asks about as many meta-topics as it has dialogues, each for fewer questions.
    topics = META_TOPICS[:max(1, min(len(META_TOPICS), needed))]
    count = max(1, min(options.questions_per_subtopic, math.ceil(needed / len(topics))))
    subtopics = await asyncio.gather(*(
        _items(run, f"subtopics|{topic}", prompts.render("subtopics", meta_topic=topic,
                                                          count=options.subtopics_per_topic),
               options.subtopics_per_topic) for topic in topics))
    entities = read_entities(options.entities) if options.entities else []
    pool: list[dict] = []
    for depth in range(MAX_ROUNDS):
        asks = [(topic, found[depth]) for topic, found in zip(topics, subtopics) if depth < len(found)]
        named = entities[depth * len(topics):(depth + 1) * len(topics)]
        if len(pool) >= needed or not (asks or named):
            break
        found = await asyncio.gather(
            *(_labelled(run, f"questions|{topic}|{subtopic}", prompts.render(
                "questions", meta_topic=topic, subtopic=subtopic, count=count), count,
                {"meta_topic": topic, "subtopic": subtopic}) for topic, subtopic in asks),
            *(_entity_questions(run, entity, count) for entity in named))
        questions = [item for items in found for item in items]
        pool += questions
        # Related questions, as the paper grows each question into ten, for as many as still needed.
        related = options.related_per_question
        if related and len(pool) < needed:
            grown = questions[:math.ceil((needed - len(pool)) / related)]
            pool += [item for items in await asyncio.gather(*(
                _labelled(run, f"related|{item['opener']}", prompts.render(
                    "related_questions", question=item["opener"], count=related), related,
                    {**item, "related_to": item["opener"]}) for item in grown)) for item in items]
    return pool


async def _labelled(run, key: str, prompt: str, most: int, labels: dict) -> list[dict]:
    """A list request's items as openers carrying the labels of what was asked."""
    return [{**labels, "opener": item} for item in await _items(run, key, prompt, most)]


async def _entity_questions(run, entity: str, count: int) -> list[dict]:
    """The entity branch: kinds of questions about the entity (meta-questions), then questions
    of each kind, specific and general."""
    kinds = await _items(run, f"entity|{entity}", run.prompts.render(
        "entity_meta_questions", entity=entity, count=run.options.meta_questions_per_entity),
        run.options.meta_questions_per_entity)
    found = await asyncio.gather(*(
        _labelled(run, f"entity|{entity}|{kind}", run.prompts.render(
            "entity_questions", entity=entity, meta_question=kind, count=count), count,
            {"entity": entity, "meta_question": kind}) for kind in kinds))
    return [item for items in found for item in items]


async def _writing(run, needed: int) -> list[dict]:
    options, prompts = run.options, run.prompts
    count = max(1, min(options.instructions_per_request, math.ceil(needed / len(WRITING_TYPES))))
    pool: list[dict] = []
    for batch in range(MAX_ROUNDS):
        if len(pool) >= needed:
            break
        answers = await asyncio.gather(*(
            _items(run, f"writing|{kind}|{batch}", prompts.render(
                "writing_instructions", writing_type=kind, count=count) + _batch_note(batch), count)
            for kind in WRITING_TYPES))
        if not any(answers):
            break
        # Round-robin over the types, so that every type is in a small run.
        for rank in range(count):
            pool += [{"instruction": found[rank], "writing_type": kind}
                     for kind, found in zip(WRITING_TYPES, answers) if rank < len(found)]
    return pool  # expanded by `finish_opener`


def _batch_note(batch: int) -> str:
    # Later batches ask for other requests than the first (the prompt differs, so the answer does).
    return "" if batch == 0 else f" (Set {batch + 1}: avoid the most obvious requests.)"


async def _assistance(run, needed: int) -> list[dict]:
    options, prompts = run.options, run.prompts
    passages = read_passages(options.passages)
    count = options.instructions_per_passage
    pool: list[dict] = []
    step = max(options.concurrency, 1)
    for start in range(0, len(passages), step):
        if len(pool) >= needed:
            break
        chunk = list(enumerate(passages[start:start + step], start))
        answers = await asyncio.gather(*(
            _items(run, f"assistance|{index}", prompts.render("assistance_instructions", text=text,
                                                                count=count), count)
            for index, text in chunk))
        for (index, text), instructions in zip(chunk, answers):
            for instruction in instructions:
                template = ASSISTANCE_TEMPLATES[int(chance(options.seed, "template", index, instruction)
                                                    * len(ASSISTANCE_TEMPLATES))]
                pool.append({"opener": template.format(instruction=instruction, text=text),
                             "instruction": instruction, "passage": index, "template": template})
    return pool


def read_passages(path: str | Path | None) -> list[str]:
    """The assistance sector's texts: one a line, or JSON Lines of {"text": ...} (by content,
    whatever the name: the release names its JSON Lines `.json`)."""
    if not path:
        raise ConfigError("the assistance sector needs --passages FILE: texts to build requests on "
                          "(one a line, or JSON Lines with a \"text\" field)")
    lines = _text_lines(path)
    first = lines[0][1]
    if not (first.startswith("{") or Path(path).suffix == ".jsonl"):
        return [line for _, line in lines]
    passages = []
    for number, line in lines:
        try:
            text = json.loads(line)["text"]
        except (ValueError, KeyError, TypeError):
            text = None
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"{path} line {number}: the file is JSON Lines (its first line is a "
                              "JSON object), but this line is not an object with a non-empty \"text\"")
        passages.append(text)
    return passages


def read_entities(path: str | Path) -> list[str]:
    """The world sector's named entities, one a line."""
    return [line for _, line in _text_lines(path)]


def _text_lines(path: str | Path) -> list[tuple[int, str]]:
    """(line number, stripped text) of the non-blank lines of a UTF-8 file; one clear error if
    there is no such file, it is not UTF-8, or it has no line with text."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path} does not exist (or is not a file)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        line = path.read_bytes()[:error.start].count(b"\n") + 1
        raise ConfigError(f"{path} line {line}: not UTF-8 text (byte {error.object[error.start]:#04x}): "
                          "save it as UTF-8") from None
    lines = [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise ConfigError(f"{path} has no line with text in it")
    return lines
