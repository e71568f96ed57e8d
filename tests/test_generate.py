"""`generate` against an OpenAI-compatible server the tests start on 127.0.0.1, scripted to
answer deterministically and to misbehave: the output goes through `prepare`, survives a kill,
and no request goes anywhere but the endpoint."""

import json
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

pytest.importorskip("openai", reason="needs openai: the `generate` extra, or `uv run --group full pytest`")

from openai_server import REFUSAL, FakeOpenAI  # noqa: E402

from ultrachat_dataset.generate import GenerateOptions, generate
from ultrachat_dataset.generate.run import without_thanks
from ultrachat_dataset.generate.seeds import ASSISTANCE_TEMPLATES, META_TOPICS, ROUNDS
from ultrachat_dataset.prepare import PrepareOptions, local_inputs, prepare

CHAOS = {"every": {"rate_limit": 9, "server_error": 13, "cut": 17},
         "content_every": {"malformed": 11, "empty": 19, "refusal": 23}}


@pytest.fixture
def server():
    started = FakeOpenAI(**CHAOS)
    yield started
    started.close()


def options(server, out, sector="world", **more):
    return GenerateOptions(sector, server.url, "assistant-model", out, timeout=5, **more)


def passages(tmp_path):
    path = tmp_path / "passages.jsonl"
    path.write_text("".join(json.dumps({"text": f"Passage {i}: the harbor and the market of the "
                                                f"river town, with its festival number {i}."}) + "\n"
                            for i in range(4)))
    return path


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_each_sector_end_to_end_into_prepare(server, tmp_path):
    out = tmp_path / "grown"
    for sector in ROUNDS:
        extra = {"passages": passages(tmp_path)} if sector == "assistance" else {}
        summary = generate(options(server, out, sector, dialogues=6, **extra), progress=False)
        assert summary["dialogues"] + sum(summary["dropped"].values()) == 6
        rows = rows_of(out / f"generated_{sector}.jsonl")
        low, high = ROUNDS[sector]
        for row in rows:  # release format; whole exchanges; never a bad reply as a turn
            assert set(row) == {"id", "data"} and row["id"].startswith(f"{sector}-")
            assert low * 2 <= len(row["data"]) <= high * 2 and len(row["data"]) % 2 == 0
            assert all(turn.strip() and turn != REFUSAL and not turn.startswith("Thank")
                       for turn in row["data"])
        metas = rows_of(out / f"generated_{sector}.meta.jsonl")
        assert [m["id"] for m in metas] == [r["id"] for r in rows]
        assert all(m["usage"]["completion_tokens"] > 0 and m["model"] == "assistant-model" for m in metas)
    assert {"meta_topic", "subtopic"} <= set(rows_of(out / "generated_world.meta.jsonl")[0])
    assert "writing_type" in rows_of(out / "generated_writing.meta.jsonl")[0]
    texts = [json.loads(line)["text"] for line in passages(tmp_path).read_text().splitlines()]
    for row, meta in zip(rows_of(out / "generated_assistance.jsonl"),
                         rows_of(out / "generated_assistance.meta.jsonl")):
        assert meta["template"] in ASSISTANCE_TEMPLATES  # the opener joins instruction and passage
        assert row["data"][0] == meta["template"].format(instruction=meta["instruction"],
                                                         text=texts[meta["passage"]])
    # Every kind of misbehaviour happened, and the content problems were asked again.
    assert {"rate_limit", "server_error", "cut", "malformed", "empty", "refusal"} <= {
        entry["action"] for entry in server.log}
    # The release's own pipeline takes the files as it takes the release.
    report = prepare(local_inputs("all", out), tmp_path / "prepared", "all", progress=False)
    generated = sum(len(rows_of(out / f"generated_{s}.jsonl")) for s in ROUNDS)
    assert report.totals().lines == generated and report.totals().kept >= generated - 2
    kept = [row for path in (tmp_path / "prepared").glob("data/*/*.parquet")
            for row in pq.read_table(path, columns=["sector", "source"]).to_pylist()]
    assert Counter(row["sector"] for row in kept).keys() == set(ROUNDS)


def test_the_retry_after_of_a_429_is_waited_for(server, tmp_path):
    generate(options(server, tmp_path / "out", dialogues=3), progress=False)
    waits = []
    for position, entry in enumerate(server.log):
        if entry["action"] == "rate_limit":
            again = next((later for later in server.log[position + 1:]
                          if later["digest"] == entry["digest"]), None)
            if again:
                waits.append(again["time"] - entry["time"])
    assert waits and min(waits) >= server.retry_after * 0.95


def test_a_kill_and_a_rerun_give_the_uninterrupted_output(tmp_path):
    server = FakeOpenAI(latency=0.05, **CHAOS)
    try:
        whole, cut = tmp_path / "whole", tmp_path / "cut"
        generate(options(server, whole, dialogues=12, concurrency=4), progress=False)
        command = [sys.executable, "-m", "ultrachat_dataset.cli", "generate", "world", "--endpoint",
                   server.url, "--model", "assistant-model", "--out", str(cut), "--dialogues", "12",
                   "--concurrency", "4", "--timeout", "5", "--quiet"]
        run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        store = cut / "work" / "world" / "dialogues.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and run.poll() is None:
            if store.exists() and len(store.read_bytes().splitlines()) >= 3:
                run.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
        run.wait()
        assert run.returncode == -signal.SIGKILL, "the run ended before it could be killed"
        assert not (cut / "generated_world.jsonl").exists()  # written only when complete
        done_before = len(store.read_bytes().splitlines())
        requests_before = len(server.log)
        subprocess.run(command, check=True, capture_output=True)
        for name in ("generated_world.jsonl", "generated_world.meta.jsonl"):
            assert (cut / name).read_bytes() == (whole / name).read_bytes()
        # The rerun asked only for what was missing (no dialogue made twice).
        finished = [json.loads(line)["key"] for line in store.read_text().splitlines()]
        assert len(finished) == len(set(finished)) == 12 and done_before >= 3
        assert len(server.log) - requests_before < requests_before
    finally:
        server.close()


def test_no_request_goes_anywhere_but_the_endpoint(server, tmp_path, monkeypatch):
    addresses = []
    connect = socket.socket.connect

    def recording(self, address):
        addresses.append(address)
        return connect(self, address)
    monkeypatch.setattr(socket.socket, "connect", recording)
    generate(options(server, tmp_path / "out", dialogues=2), progress=False)
    assert addresses and {tuple(a[:2]) for a in addresses} == {("127.0.0.1", server.httpd.server_port)}


def test_shards_split_the_dialogues_and_prepare_reads_them_all(server, tmp_path):
    out = tmp_path / "out"
    for index in range(2):
        generate(options(server, out, dialogues=5, shard=(index, 2)), progress=False)
    shards = [[int(row["id"].split("-")[1])
               for row in rows_of(out / f"generated_world-0000{index}-of-00002.jsonl")]
              for index in range(2)]
    # Shard i makes dialogues i, i + 2, ...: no dialogue twice, none outside the 5 asked for.
    assert all(number % 2 == index for index, numbers in enumerate(shards) for number in numbers)
    assert set(shards[0]) | set(shards[1]) <= set(range(5)) and len(shards[0]) + len(shards[1]) >= 4
    assert len(local_inputs("world", out)) == 2


def test_a_chinese_run_is_kept_by_prepare_languages_zh(server, tmp_path):
    out = tmp_path / "zh"
    generate(options(server, out, dialogues=3, language="zh"), progress=False)
    rows = rows_of(out / "generated_world.jsonl")
    assert rows and all(any("\u4e00" <= ch <= "\u9fff" for ch in row["data"][1]) for row in rows)
    report = prepare(local_inputs("world", out), tmp_path / "prepared", "world", progress=False,
                     options=PrepareOptions(languages=("zh-cn",)))
    assert report.totals().kept == len(rows)


def test_an_endpoint_that_only_refuses_gives_dropped_dialogues_not_turns(tmp_path):
    server = FakeOpenAI(content_every={"refusal": 1})
    try:
        summary = generate(options(server, tmp_path / "out", dialogues=2), progress=False)
    finally:
        server.close()
    assert summary["dialogues"] == 0 and summary["openers"] == 0
    assert summary["opener_requests_given_up"] == {"refusal": 2}
    assert rows_of(tmp_path / "out" / "generated_world.jsonl") == []


def test_polite_closings_are_stripped_from_user_turns():
    assert without_thanks("Thanks for that! What about rivers?") == "What about rivers?"
    assert without_thanks("User: ok thanks\nAnd the sea?") == "And the sea?"
    assert without_thanks("Thank you so much!") == ""
    assert without_thanks("Is thanks a noun?") == "Is thanks a noun?"


def test_world_grows_questions_into_related_ones_and_entities_through_meta_questions(tmp_path):
    with FakeOpenAI() as calm:  # no chaos: every opener asked for is made
        entities = tmp_path / "entities.txt"
        entities.write_text("Mount Fuji\nThe Rosetta Stone\n")
        out = tmp_path / "out"
        summary = generate(options(calm, out, dialogues=40, subtopics_per_topic=1,
                                   questions_per_subtopic=1, related_per_question=10,
                                   meta_questions_per_entity=2, entities=entities,
                                   price_prompt=2.0, price_completion=6.0), progress=False)
        asked = [json.loads(entry["body"])["messages"][-1]["content"] for entry in calm.log]
    metas = rows_of(out / "generated_world.meta.jsonl")
    openers = {meta["id"]: row["data"][0] for meta, row in zip(metas, rows_of(out / "generated_world.jsonl"))}
    # 30 meta-topics give 30 questions, the entities 2 x 2; the 6 missing come from related ones.
    assert Counter("related_to" in m for m in metas) == {False: 34, True: 6}
    topic_questions = {openers[m["id"]] for m in metas if "subtopic" in m and "related_to" not in m}
    assert all(m["related_to"] in topic_questions and m["meta_topic"] == META_TOPICS[0]
               for m in metas if "related_to" in m)
    kinds = {(m["entity"], m["meta_question"]) for m in metas if "entity" in m}
    assert len(kinds) == 4 and {entity for entity, _ in kinds} == {"Mount Fuji", "The Rosetta Stone"}
    assert all(any(f'"{entity}" of this kind: {kind}' in prompt for prompt in asked)
               for entity, kind in kinds)  # each question was asked of its meta-question
    # Money: the tokens summed over every request at the prices given, per million.
    run = summary["this_run"]
    assert summary["cost"]["this_run"] == pytest.approx(
        (run["prompt_tokens"] * 2.0 + run["completion_tokens"] * 6.0) / 1e6)
    assert 0 < summary["cost"]["per_dialogue"] < summary["cost"]["this_run"]
