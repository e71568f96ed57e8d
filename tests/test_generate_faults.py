"""`ultrachat generate` against endpoints that fail the way real ones do, run as a user runs it
(the command, its exit code and its one line): a failure is never stored as an answer, a run that
cannot use its endpoint stops at once, a run that made fewer dialogues than asked says so and
exits non-zero, bad input is refused before the first request, bad replies never become turns."""

import json
import socket
import subprocess
import sys

import pytest

pytest.importorskip("openai", reason="needs openai: the `generate` extra, or `uv run --group full pytest`")

from openai_server import OTHER_REFUSALS, REFUSAL, FakeOpenAI  # noqa: E402


def generate(server_url, out, *more, sector="world", dialogues=4, timeout=300):
    command = [sys.executable, "-m", "ultrachat_dataset.cli", "generate", sector, "--endpoint", server_url,
               "--model", "assistant-model", "--out", str(out), "--dialogues", str(dialogues),
               "--concurrency", "4", "--timeout", "5", "--max-retries", "1", "--quiet", *more]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def stored(out, sector="world"):
    """What the run's work folder holds as answers: opener lists and finished dialogues."""
    work = out / "work" / sector
    return lines(work / "requests.jsonl"), lines(work / "dialogues.jsonl")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def one_line(result) -> str:
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    [line] = result.stderr.strip().splitlines()
    return line


@pytest.mark.parametrize("fault, says", [
    ("wrong key", "HTTP 401"), ("unknown model", "HTTP 404"), ("nothing listening", "cannot connect")])
def test_an_endpoint_that_cannot_be_used_stops_the_run_and_stores_nothing(tmp_path, fault, says):
    healthy = FakeOpenAI(api_key="right-key", models={"assistant-model"})
    try:
        url = f"http://127.0.0.1:{closed_port()}/v1" if fault == "nothing listening" else healthy.url
        key = "wrong-key" if fault == "wrong key" else "right-key"
        model = "other-model" if fault == "unknown model" else "assistant-model"
        result = generate(url, tmp_path, "--api-key", key, "--model", model)
        assert result.returncode == 2
        line = one_line(result)
        assert says in line and url in line and "0 of 4 dialogues made" in line
        assert stored(tmp_path) == ([], [])  # no failure stored as an answer
        assert lines(tmp_path / "generated_world.jsonl") == []
        again = generate(healthy.url, tmp_path, "--api-key", "right-key")  # the user fixed it
        assert again.returncode == 0, again.stderr
        assert len(lines(tmp_path / "generated_world.jsonl")) == 4
    finally:
        healthy.close()


def test_an_address_where_nothing_listens_fails_at_the_first_request_not_after_the_retries(tmp_path):
    result = generate(f"http://127.0.0.1:{closed_port()}/v1", tmp_path, "--max-retries", "6")
    assert result.returncode == 2
    assert "no answer to the run's first requests; check --endpoint" in one_line(result)


def test_a_server_that_goes_down_mid_run_keeps_what_was_made_and_a_rerun_finishes(tmp_path):
    going = FakeOpenAI(fail_from=90)
    try:
        result = generate(going.url, tmp_path, dialogues=12)
    finally:
        going.close()
    assert result.returncode == 2 and "cannot connect" not in result.stdout
    line = one_line(result)
    made = int(line.split(" of 12 dialogues made")[0].rsplit(" ", 1)[1])
    _, finished = stored(tmp_path)
    assert all("dropped" not in record for record in finished)  # a cut is no reason to drop one
    assert len(finished) == made < 12
    with FakeOpenAI() as back:
        again = generate(back.url, tmp_path, dialogues=12)
    assert again.returncode == 0, again.stderr
    assert len(lines(tmp_path / "generated_world.jsonl")) == 12


@pytest.mark.parametrize("change, says", [
    (("--endpoint", "localhost:8000"), "is not an http(s) URL"),
    (("--endpoint", "ftp://127.0.0.1/v1"), "is not an http(s) URL"),
    (("--max-retries", "-1"), "--max-retries -1: give a whole number of at least 0"),
    (("--dialogues", "0"), "--dialogues 0: give a whole number of at least 1"),
    (("--timeout", "0"), "--timeout 0.0: give a number above 0"),
    (("--temperature", "3"), "--temperature 3.0: give a number from 0 to 2"),
    (("--out", "FILE"), "is a file"),
    (("--passages", "LATIN1"), "line 2: not UTF-8 text"),
    (("--passages", "EMPTY"), "has no line with text in it"),
    (("--passages", "BLANK"), "has no line with text in it"),
    (("--passages", "MIXED"), "line 2: the file is JSON Lines"),
])
def test_bad_input_is_one_line_before_any_request(tmp_path, change, says):
    files = {"FILE": tmp_path / "a-file", "LATIN1": tmp_path / "latin1.txt", "EMPTY": tmp_path / "empty.txt",
             "BLANK": tmp_path / "blank.txt", "MIXED": tmp_path / "mixed.json"}
    files["FILE"].write_text("mine")
    files["LATIN1"].write_bytes("A first passage.\nCaf\xe9 au lait and a croissant.\n".encode("latin-1"))
    files["EMPTY"].write_text("")
    files["BLANK"].write_text("\n   \n\t\n")
    files["MIXED"].write_text('{"text": "A passage about tides."}\nplain text after it\n')
    good = tmp_path / "good.txt"
    good.write_text("A passage about tides and harbours.\n")
    flag, value = change
    with FakeOpenAI() as server:
        options = {"--endpoint": server.url, "--out": str(tmp_path / "out"), "--passages": str(good),
                   flag: str(files.get(value, value))}
        command = [sys.executable, "-m", "ultrachat_dataset.cli", "generate", "assistance", "--model", "m",
                   "--quiet", *(item for pair in options.items() for item in pair)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 2
        assert says in one_line(result)
        assert server.log == []  # refused before the first request


def test_json_lines_passages_in_a_file_named_json_are_read_as_json(tmp_path):
    passages = tmp_path / "passages.json"  # as the release names its JSON Lines
    passages.write_text("".join(json.dumps({"text": f"Tide tables for harbour number {i} of the coast."})
                                + "\n" for i in range(2)))
    with FakeOpenAI() as server:
        result = generate(server.url, tmp_path / "out", "--passages", str(passages), sector="assistance",
                          dialogues=3)
    assert result.returncode == 0, result.stderr
    openers = [row["data"][0] for row in lines(tmp_path / "out" / "generated_assistance.jsonl")]
    assert openers and all('{"text"' not in opener and "Tide tables for harbour" in opener
                           for opener in openers)


def test_replies_cut_refused_or_speaking_as_a_role_never_become_turns(tmp_path):
    bad = {"cut_off": 3, "role_prefix": 5, "refusal_curly": 7, "unable": 11}
    with FakeOpenAI(content_every=bad) as server:
        result = generate(server.url, tmp_path, dialogues=8)
        served = [entry["action"] for entry in server.log]
    assert set(bad) <= set(served)  # each kind was served
    summary = json.loads((tmp_path / "work" / "world" / "summary.json").read_text())
    assert {"cut_off", "role_prefix", "refusal"} <= set(summary["this_run"]["retried"])
    rows = lines(tmp_path / "generated_world.jsonl")
    assert rows and result.returncode in (0, 1)
    turns = [turn for row in rows for turn in row["data"]]
    assert not any(turn.startswith("Assistant:") or turn in OTHER_REFUSALS.values() or turn == REFUSAL
                   or turn.endswith("ma") for turn in turns)


def test_a_refused_opener_list_never_becomes_a_first_turn(tmp_path):
    with FakeOpenAI(content_every={"unable": 1}) as server:  # every reply refuses, in other words
        result = generate(server.url, tmp_path, dialogues=2)
    assert result.returncode == 1
    assert "0 of 2 dialogues made" in one_line(result) and "openers could be made" in result.stderr
    assert stored(tmp_path)[0] == []  # the refused lists were not stored: a rerun asks again
    assert lines(tmp_path / "generated_world.jsonl") == []


def test_timeout_bounds_the_whole_request_against_a_trickling_server(tmp_path):
    with FakeOpenAI(every={"trickle": 1}) as server:  # ~100 s a reply, a byte every 0.5 s
        result = generate(server.url, tmp_path, "--timeout", "2", "--max-retries", "0", dialogues=1,
                          timeout=60)
    assert result.returncode == 2
    assert "no whole answer within --timeout 2 s" in one_line(result)


def test_a_server_that_sends_no_usage_gives_unknown_usage_and_cost(tmp_path):
    with FakeOpenAI(usage=False) as server:
        result = generate(server.url, tmp_path, "--price-prompt", "2", "--price-completion", "6", dialogues=2)
    assert result.returncode == 0, result.stderr
    assert "usage unknown" in result.stdout and "cost: unknown" in result.stdout
    summary = json.loads((tmp_path / "work" / "world" / "summary.json").read_text())
    assert summary["this_run"]["requests_without_usage"] == summary["this_run"]["requests"] > 0
    assert summary["cost"]["this_run"] is None and summary["cost"]["per_dialogue"] is None


def test_requests_the_server_rejects_are_counted_and_what_it_said_is_shown(tmp_path):
    with FakeOpenAI(every={"bad_request": 1}) as server:
        result = generate(server.url, tmp_path, dialogues=2)
    assert result.returncode == 1
    line = one_line(result)
    assert "0 of 2 dialogues made" in line and "request_rejected" in line
    assert "unsupported parameter: seed" in line  # what the server said
    assert stored(tmp_path) == ([], [])
