"""The explorer's answers agree with the report and the files, and its server serves nothing but
its page and those answers, to this machine, read-only."""

import http.client
import json
import re
import socket
import subprocess
import sys
import threading
import urllib.request

import pytest
from explore_folder import PLANTED_BAD_LINE, PLANTED_SCRIPT, WORLD_FILE, prepared_folder

from ultrachat_dataset.errors import ConfigError
from ultrachat_dataset.explore import Explorer, ExplorerServer, RowQuery


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return prepared_folder(tmp_path_factory.mktemp("explore"))


@pytest.fixture(scope="module")
def explorer(folder):
    return Explorer(folder)


@pytest.fixture(scope="module")
def server(explorer):
    started = ExplorerServer(explorer, port=0)
    threading.Thread(target=started.serve_forever, daemon=True).start()
    yield started
    started.shutdown()
    started.server_close()


def every_row(explorer, **filters):
    page = explorer.rows(RowQuery(page_size=500, **filters))
    assert page["total"] <= 500
    return page["rows"]


def test_every_count_matches_the_report_and_the_rows_behind_it(explorer, folder):
    report = json.loads((folder / "report.json").read_text())
    overview = explorer.overview()
    assert overview["lines"] == report["lines"] == explorer.rows(RowQuery())["total"]
    assert explorer.rows(RowQuery(status="kept"))["total"] == report["kept"]
    assert sum(sum(splits.values()) for splits in overview["by_sector"].values()) == report["kept"]
    for sector, splits in overview["by_sector"].items():
        for split, count in splits.items():
            rows = every_row(explorer, status="kept", sector=sector, split=split)
            assert len(rows) == count and {(r["sector"], r["split"]) for r in rows} <= {(sector, split)}
    assert {r["reason"] for r in overview["rejects_by_stage"]} == set(report["rejected"])
    for entry in overview["rejects_by_stage"]:
        rows = every_row(explorer, status="rejected", stage=entry["stage"], reason=entry["reason"])
        assert len(rows) == entry["rows"] == report["rejected"][entry["reason"]]
    assert sum(e["rows"] for e in overview["exchanges"]) == report["kept"]
    assert overview["stages"] == report["stages"]
    for name, counts in report["stages"].items():
        assert len(every_row(explorer, status="rejected", stage=name)) == counts["rejected"]
    statistics = json.loads((folder / "statistics.json").read_text())["sectors"]
    assert overview["statistics"] == statistics and statistics[-1]["dialogues"] == report["kept"]


def test_filters_search_and_paging(explorer):
    three = every_row(explorer, status="kept", min_exchanges=3, max_exchanges=3)
    assert three and all(row["exchanges"] == 3 for row in three)
    # Ordered by source and line, and pages that tile it: no row twice, none missing.
    everything = explorer.rows(RowQuery(page_size=500))["total"]
    seen = [(row["source"], row["line"]) for page in range(0, everything // 37 + 1)
            for row in explorer.rows(RowQuery(page=page, page_size=37))["rows"]]
    assert len(seen) == len(set(seen)) == everything and seen == sorted(seen)
    # Search is literal and in any case: the planted turn, whatever regex characters it holds.
    found = every_row(explorer, search=PLANTED_SCRIPT.upper())
    assert [(row["status"], row["id"]) for row in found] == [("kept", "planted")]
    assert every_row(explorer, search="window.__pwned = 4")[0]["reason"] == "invalid_json"
    assert every_row(explorer, search="?") != [] and every_row(explorer, search="no such text anywhere") == []
    # Length in characters, on kept and rejected rows alike.
    sizes = {}
    for row in every_row(explorer):
        turns = explorer.dialogue(row["source"], row["line"])["turns"]
        if turns is not None:
            sizes[(row["source"], row["line"])] = sum(len(turn["content"]) for turn in turns)
    middle = sorted(sizes.values())[len(sizes) // 2]
    longer = {(row["source"], row["line"]) for row in every_row(explorer, min_chars=middle)}
    assert longer == {place for place, size in sizes.items() if size >= middle}
    shorter = {(row["source"], row["line"]) for row in every_row(explorer, max_chars=middle - 1)}
    assert shorter == set(sizes) - longer
    code = next(reason for reason in explorer.overview()["rejected"] if reason.startswith("lang_"))
    lang = every_row(explorer, language=code.removeprefix("lang_"))
    assert lang and all(row["reason"] == code for row in lang)


def test_a_dialogue_a_reject_and_a_duplicate_beside_what_it_duplicates(explorer):
    planted = every_row(explorer, search="window.__pwned = 1")[0]
    kept = explorer.dialogue(planted["source"], planted["line"])
    assert kept["status"] == "kept" and kept["turns"][0]["role"] == "user"
    assert PLANTED_SCRIPT in kept["turns"][0]["content"]
    broken = explorer.dialogue(WORLD_FILE, planted["line"] + 1)
    assert broken["reason"] == "invalid_json" and broken["raw"] == PLANTED_BAD_LINE
    assert broken["turns"] is None
    duplicate = every_row(explorer, reason="exact_duplicate")[0]
    shown = explorer.dialogue(duplicate["source"], duplicate["line"])
    source, line = re.match(r"duplicate of (.+) line (\d+) ", shown["detail"]).groups()
    original = shown["duplicate_of"]
    assert (original["status"], original["source"], original["line"]) == ("kept", source, int(line))
    assert len(original["turns"]) == len(shown["turns"])
    assert explorer.dialogue(WORLD_FILE, 10**9) is None


def test_a_folder_prepare_did_not_write_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="no report.json"):
        Explorer(tmp_path)
    done = subprocess.run([sys.executable, "-m", "ultrachat_dataset.cli", "explore", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "no report.json" in done.stderr
    (tmp_path / "report.json").write_text('{"lines": 3, "kep')  # cut short
    with pytest.raises(ConfigError, match="report.json is not a prepare report"):
        Explorer(tmp_path)


def test_a_port_in_use_is_one_line_naming_it(folder):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "ultrachat_dataset.cli", "explore", str(folder),
                               "--port", str(port)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


def get(server, path, method="GET", host=None):
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    headers = {"Host": host} if host else {}
    connection.request(method, path, headers=headers)
    response = connection.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def test_the_server_listens_on_this_machine_only_and_reads_nothing_but_the_folder(server):
    assert server.server_address[0] == "127.0.0.1"
    status, headers, body = get(server, "/")
    assert status == 200 and b"/app.js" in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    for path in ("/etc/passwd", "/../report.json", "/%2e%2e/%2e%2e/etc/passwd", "/static/app.js",
                 "/api/../../etc/passwd"):
        assert get(server, path)[0] == 404, path
    status, _, body = get(server, "/api/dialogue?source=../../../../etc/passwd&line=1")
    assert status == 404 and b"root:" not in body
    assert get(server, "/api/rows", method="POST")[0] == 405
    assert get(server, "/api/rows", method="DELETE")[0] == 405
    # A page on another site that points a name at 127.0.0.1 (DNS rebinding) is refused.
    assert get(server, "/api/overview", host="evil.example:80")[0] == 403
    status, _, body = get(server, "/api/rows?page_size=100000")
    assert status == 400 and b"page_size" in body
    assert get(server, "/api/rows?nonsense=1")[0] == 400


def test_the_api_answers_as_the_explorer_does(server, explorer):
    status, _, body = get(server, "/api/rows?status=rejected&reason=near_duplicate&page_size=5")
    assert status == 200
    assert json.loads(body) == explorer.rows(RowQuery(status="rejected", reason="near_duplicate",
                                                      page_size=5))


def test_the_command_prints_its_address_and_serves_the_folder(folder):
    process = subprocess.Popen([sys.executable, "-m", "ultrachat_dataset.cli", "explore", str(folder),
                                "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        address = re.search(r"at (http://127\.0\.0\.1:\d+/)", line).group(1)
        with urllib.request.urlopen(address + "api/overview", timeout=10) as response:
            served = json.loads(response.read())
        assert served["lines"] == json.loads((folder / "report.json").read_text())["lines"]
    finally:
        process.terminate()
        process.wait(timeout=10)
