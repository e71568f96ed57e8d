"""The explorer against folders and clients that misbehave as real ones do: every question gets
an HTTP answer (a JSON error with a status, never a dropped connection or a traceback), every
reject the reader makes opens, a broken folder is one line at start naming the file, and the
HTTP it speaks is strict (bodies, Host headers, idle connections)."""

import http.client
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from explore_folder import prepared_folder

from ultrachat_dataset.explore import Explorer, ExplorerServer
from ultrachat_dataset.explore import server as server_module
from ultrachat_dataset.release.read import READ_REASONS


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return prepared_folder(tmp_path_factory.mktemp("faults"))


def serving(folder):
    started = ExplorerServer(Explorer(folder), port=0)
    threading.Thread(target=started.serve_forever, daemon=True).start()
    return started


@pytest.fixture
def server(folder):
    started = serving(folder)
    yield started
    started.shutdown()
    started.server_close()


def ask(server, path, method="GET", headers=None, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=60)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    answer = (response.status, json.loads(response.read() or b"null"))
    connection.close()
    return answer


def rejects_of(folder):
    columns = ["source", "line", "stage", "reason"]
    return pq.read_table(folder / "rejects" / "all.parquet", columns=columns).to_pylist()


def test_every_reason_the_reader_knows_is_in_the_folder_and_opens(folder, server, capsys):
    read = {row["reason"]: row for row in rejects_of(folder) if row["stage"] == "read"}
    assert set(read) == set(READ_REASONS)  # the test folder makes every one the registry has
    for reason, row in read.items():
        query = urllib.parse.urlencode({"source": row["source"], "line": row["line"]})
        status, answer = ask(server, f"/api/dialogue?{query}")
        assert status == 200, (reason, answer)
        assert answer["reason"] == reason and answer["status"] == "rejected"
    status, page = ask(server, "/api/rows?status=rejected&stage=read&page_size=500")
    assert status == 200 and {row["reason"] for row in page["rows"]} == set(READ_REASONS)
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("question, status", [
    ("/api/rows?page=1000000000000000000000000000000", 400),
    ("/api/rows?page=-1", 400),
    ("/api/rows?page_size=abc", 400),
    ("/api/dialogue?source=x&line=99999999999999999999999", 400),
    ("/api/rows?colour=red", 400),
    ("/api/dialogue?source=nowhere.json&line=3", 404),
])
def test_bad_questions_are_json_errors(server, question, status, capsys):
    answered, answer = ask(server, question)
    assert answered == status and answer["error"]
    assert "Traceback" not in capsys.readouterr().err


def test_a_folder_changed_while_served_is_said_so(folder, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    started = serving(copy)
    try:
        shard = next((copy / "data" / "world").glob("train-*.parquet"))
        shard.unlink()  # a shard deleted, as a re-prepare swaps the folder
        status, answer = ask(started, "/api/rows?q=harbor")
        assert status == 409 and "changed while it was served" in answer["error"]
        assert "data/world/train" in answer["error"] and "restart" in answer["error"]
        status, _ = ask(started, "/api/overview")
        assert status == 409
    finally:
        started.shutdown()
        started.server_close()
    assert "Traceback" not in capsys.readouterr().err


def broken(folder, tmp_path, how):
    copy = tmp_path / "broken"
    shutil.copytree(folder, copy)
    shard = next((copy / "data" / "world").glob("train-*.parquet"))
    rejects = copy / "rejects" / "all.parquet"
    if how == "truncated shard":
        shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
        return copy, shard
    if how == "empty shard":
        shard.write_bytes(b"")
        return copy, shard
    if how == "text shard":
        shard.write_text("key,id\n1,2\n")
        return copy, shard
    if how == "other-schema shard":
        pq.write_table(pa.table({"text": ["a line of some other dataset"]}), shard)
        return copy, shard
    if how == "truncated rejects":
        rejects.write_bytes(rejects.read_bytes()[:1000])
        return copy, rejects
    if how == "report is a list":
        (copy / "report.json").write_text("[1, 2, 3]")
        return copy, copy / "report.json"
    shutil.rmtree(copy / "data")  # "no data folder"
    return copy, copy / "data"


@pytest.mark.parametrize("how", ["truncated shard", "empty shard", "text shard", "other-schema shard",
                                 "truncated rejects", "report is a list", "no data folder"])
def test_a_broken_folder_is_one_line_at_start_naming_the_file(folder, tmp_path, how):
    copy, named = broken(folder, tmp_path, how)
    command = [sys.executable, "-m", "ultrachat_dataset.cli", "explore", str(copy), "--port", "0"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert str(named.parent if how == "no data folder" else named) in line


def test_a_report_that_contradicts_the_shards_is_said_on_the_page_and_the_terminal(folder, tmp_path):
    copy = tmp_path / "edited"
    shutil.copytree(folder, copy)
    report = json.loads((copy / "report.json").read_text())
    report["kept"] = 5
    (copy / "report.json").write_text(json.dumps(report))
    warnings = Explorer(copy).overview()["warnings"]
    assert len(warnings) == 1 and "report.json says 5 dialogues kept, but the shards" in warnings[0]
    assert Explorer(folder).overview()["warnings"] == []
    process = subprocess.Popen([sys.executable, "-m", "ultrachat_dataset.cli", "explore", str(copy), "--port",
                                "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "exploring" in process.stdout.readline()
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=60)
    assert "warning: report.json says 5 dialogues kept" in stderr


def raw_exchange(server, data: bytes) -> bytes:
    """Send raw bytes on one connection, and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=60) as connection:
        connection.sendall(data)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received


def test_a_posts_body_is_never_read_as_a_second_request(server):
    host = f"127.0.0.1:{server.server_address[1]}".encode()
    smuggled = b"GET /api/overview HTTP/1.1\r\nHost: " + host + b"\r\n\r\n"
    post = (b"POST /api/overview HTTP/1.1\r\nHost: " + host + b"\r\nContent-Length: "
            + str(len(smuggled)).encode() + b"\r\n\r\n" + smuggled)
    received = raw_exchange(server, post)
    assert received.startswith(b"HTTP/1.1 405") and received.count(b"HTTP/1.1 ") == 1


@pytest.mark.parametrize("request_head", [
    b"GET /api/overview HTTP/1.1\r\nHost: {host}\r\nHost: evil.example\r\n\r\n",
    b"GET http://evil.example/api/overview HTTP/1.1\r\nHost: {host}\r\n\r\n",
    b"GET /api/overview HTTP/1.1\r\nHost: evil.example\r\n\r\n",
])
def test_a_request_naming_another_host_is_refused(server, request_head):
    host = f"127.0.0.1:{server.server_address[1]}".encode()
    received = raw_exchange(server, request_head.replace(b"{host}", host) + b"")
    assert received.startswith(b"HTTP/1.1 403")


def test_an_idle_half_sent_connection_is_closed(server, monkeypatch):
    monkeypatch.setattr(server_module._Handler, "timeout", 1)
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=60) as connection:
        connection.sendall(b"GET /api/overview HTTP/1.1\r\nHo")  # and then nothing
        assert connection.recv(65536) == b""  # closed by the server, not held open forever


def test_clients_that_leave_leave_no_traceback(server, capsys):
    port = server.server_address[1]
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", port), timeout=60) as connection:
            request = f"GET /api/rows?q=harbor&page_size=500 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
            connection.sendall(request.encode())
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    assert ask(server, "/api/overview")[0] == 200  # still serving
    time.sleep(1)  # let the handlers of the closed connections finish writing
    assert capsys.readouterr().err == ""
