"""Downloads against real HTTP servers on 127.0.0.1 that behave like Tsinghua's share and the
Hub, with faults: dropped connections, wrong bytes, 404 and 500, slow answers, changed files."""

import hashlib
import json
import os
import re

import pytest
from release_server import Fault, ReleaseServer

from ultrachat_dataset.errors import DownloadError
from ultrachat_dataset.release.download import LOCK_NAME, DownloadOptions, download
from ultrachat_dataset.release.sources import HUB_FILES, TSINGHUA_FILES
from ultrachat_dataset.release.synth import synthesize


@pytest.fixture(scope="module")
def release_bytes(tmp_path_factory):
    """The four Tsinghua files and ten Hub shards of a small synthesized release."""
    tsinghua = tmp_path_factory.mktemp("tsinghua")
    synthesize(tsinghua, dialogues=300, seed=3, length_scale=0.2)
    hub = tmp_path_factory.mktemp("hub")
    synthesize(hub, dialogues=200, seed=3, length_scale=0.2, layout="hub")
    files = {f.name: (tsinghua / f.name).read_bytes() for f in TSINGHUA_FILES}
    files.update({f.name: (hub / f.name).read_bytes() for f in HUB_FILES})
    return files


@pytest.fixture
def server(release_bytes):
    with ReleaseServer(dict(release_bytes)) as running:
        yield running


def options(server, **overrides) -> DownloadOptions:
    values = {"source": "tsinghua", "tsinghua_endpoint": server.url, "progress": False,
              "backoff": 0.01, "timeout": 5.0, "mirror": None, "offline": False, **overrides}
    return DownloadOptions(**values)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_tsinghua_links_redirect_to_the_files_and_the_lock_records_them(server, tmp_path, release_bytes):
    result = download("writing", tmp_path, options(server))
    assert result.origin == "tsinghua"
    assert [f.source for f in result.files] == ["ultrachat_material_release_230412.json",
                                                "ultrachat_material_release_230417.json"]
    for item in result.files:
        assert item.path.read_bytes() == release_bytes[item.source] and item.sector == "writing"
    lock = json.loads((tmp_path / LOCK_NAME).read_text())["files"]
    assert {name: entry["sha256"] for name, entry in lock.items()} == {
        f.source: sha(release_bytes[f.source]) for f in result.files}
    assert any(path.startswith("/f/57258a87846243218a9b/") for _, path, _ in server.log)
    assert not list(tmp_path.glob(".*.part"))


def test_a_dropped_connection_resumes_with_range_and_the_hash_matches(server, tmp_path, release_bytes):
    name = "ultrachat_release_230407.json"
    server.faults[name] = Fault(drop_after=1000, drops=2)
    download("world", tmp_path, options(server))
    assert (tmp_path / name).read_bytes() == release_bytes[name]
    ranges = [r for _, path, r in server.log if path.endswith(name) and r]
    assert ranges == ["bytes=1000-", "bytes=2000-"]  # dropped twice, resumed each time


def test_wrong_bytes_are_detected_retried_once_then_a_clear_error(server, tmp_path, release_bytes):
    name = "ultrachat_release_230407.json"
    known = {name: sha(release_bytes[name])}
    server.faults[name] = Fault(wrong_bytes=True)
    with pytest.raises(DownloadError) as error:
        download("world", tmp_path, options(server, known_hashes=known))
    message = str(error.value)
    assert name in message and known[name] in message
    assert sha(bytes(reversed(release_bytes[name]))) in message
    assert sum(1 for method, path, _ in server.log if method == "GET" and path.endswith(name)) == 2
    assert not (tmp_path / name).exists() and not list(tmp_path.glob(".*.part"))


@pytest.mark.parametrize("status, retried", [(404, False), (500, True)])
def test_http_errors_name_the_url(server, tmp_path, status, retried):
    name = "ultrachat_existent_material_release_230420.json"
    server.faults[name] = Fault(status=status)
    share = TSINGHUA_FILES[-1].url.replace("https://cloud.tsinghua.edu.cn", server.url)
    expected = f"HTTP {status}" if not retried else f"gave up after 3 attempts \\(HTTP {status}"
    with pytest.raises(DownloadError, match=f"{name}: {re.escape(share)}: {expected}.* at "
                                            f"{server.url}/seafhttp/files/0123-abcd/{name}"):
        download("assistance", tmp_path, options(server, retries=2))
    gets = sum(1 for method, path, _ in server.log if path.endswith(name))
    assert gets == (3 if retried else 1)


def test_a_slow_server_times_out_instead_of_hanging(server, tmp_path):
    server.faults["ultrachat_release_230407.json"] = Fault(delay=2.0)
    with pytest.raises(DownloadError, match="gave up after 2 attempts"):
        download("world", tmp_path, options(server, timeout=0.3, retries=1))


def test_a_file_changed_after_the_lock_was_written_is_refused(server, tmp_path, release_bytes):
    name = "ultrachat_release_230407.json"
    download("world", tmp_path, options(server))
    (tmp_path / name).unlink()  # gone locally; the server now has other bytes
    server.files[name] = release_bytes[name] + b'{"id": "new", "data": ["q", "a"]}\n'
    with pytest.raises(DownloadError, match=f"{name}: downloaded twice.*hash in .*{LOCK_NAME}"):
        download("world", tmp_path, options(server))


def test_files_already_verified_are_not_downloaded_again(server, tmp_path):
    download("world", tmp_path, options(server))
    before = len(server.log)
    download("world", tmp_path, options(server))
    assert len(server.log) == before


def test_mirror_serves_every_release_file_by_name(server, tmp_path, release_bytes):
    result = download("all", tmp_path, options(server, source="auto", mirror=f"{server.url}/mirror"))
    assert result.origin == "mirror" and len(result.files) == 4
    assert all(path.startswith("/mirror/") for _, path, _ in server.log)


def test_auto_falls_back_to_the_hub_for_all(server, tmp_path, release_bytes):
    for f in TSINGHUA_FILES:
        server.faults[f.name] = Fault(status=404)
    result = run_cli("download", "all", "--dest", str(tmp_path / "data"), "--quiet",
                     ULTRACHAT_TSINGHUA_ENDPOINT=server.url, HF_ENDPOINT=server.url,
                     HF_HOME=str(tmp_path / "hf"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "10 files" in result.stdout and "from hub" in result.stdout
    assert "(no sector)" in result.stdout
    for f in HUB_FILES:
        assert (tmp_path / "data" / f.name).read_bytes() == release_bytes[f.name]


def test_offline_uses_what_is_there_and_names_what_is_missing(server, tmp_path):
    download("world", tmp_path, options(server))
    assert download("world", tmp_path, options(server, offline=True)).files
    with pytest.raises(DownloadError, match="offline.*ultrachat_material_release_230412.json is missing"):
        download("writing", tmp_path, options(server, offline=True))


def test_only_http_urls_are_fetched(server):
    with pytest.raises(DownloadError, match="only http"):
        options(server, mirror="file:///etc")


def test_hf_hub_offline_environment_means_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert DownloadOptions().offline
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert not DownloadOptions().offline


def run_cli(*args, **env):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "ultrachat_dataset.cli", *args], capture_output=True,
                          text=True, timeout=300, check=False, env={**os.environ, **env})


def test_cli_downloads_from_the_hub_with_hf_endpoint(server, tmp_path, release_bytes):
    result = run_cli("download", "all", "--source", "hub", "--dest", str(tmp_path), "--quiet",
                     HF_ENDPOINT=server.url, HF_HOME=str(tmp_path / "hf"), HF_TOKEN="hf_secret_42")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "10 files" in result.stdout and "from hub in" in result.stdout
    assert result.stdout.count("sha256 matches the Hub's sha256") == 10
    assert "hf_secret_42" not in result.stdout + result.stderr
    for f in HUB_FILES:
        assert (tmp_path / f.name).read_bytes() == release_bytes[f.name]


def test_cli_prepare_downloads_from_tsinghua_then_runs_the_pipeline(server, tmp_path):
    result = run_cli("prepare", "writing", "--source", "tsinghua", "--data-dir", str(tmp_path / "rel"),
                     "--out", str(tmp_path / "out"), "--quiet",
                     ULTRACHAT_TSINGHUA_ENDPOINT=server.url)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert set(report["files"]) == {"ultrachat_material_release_230412.json",
                                    "ultrachat_material_release_230417.json"}
    assert (tmp_path / "rel" / LOCK_NAME).is_file()


def test_cli_download_error_is_one_line(server, tmp_path):
    server.faults["ultrachat_release_230407.json"] = Fault(status=404)
    result = run_cli("download", "world", "--source", "tsinghua", "--dest", str(tmp_path), "--quiet",
                     ULTRACHAT_TSINGHUA_ENDPOINT=server.url)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "ultrachat_release_230407.json" in result.stderr and "HTTP 404" in result.stderr


# ---- hosts that misbehave the way real ones do: the file is exact, or the run fails naming the
# file and the cause, and nothing wrong is saved or locked ------------------------------------

WORLD = "ultrachat_release_230407.json"


def assert_nothing_saved(directory, name=WORLD, part_kept=False):
    """Nothing under the release name, nothing locked; a part only where it can be resumed."""
    assert not (directory / name).exists()
    assert bool(list(directory.glob(".*.part"))) == part_kept
    lock = directory / LOCK_NAME
    assert not lock.exists() or name not in json.loads(lock.read_text())["files"]


def assert_exact_and_locked(directory, release_bytes, name=WORLD):
    assert (directory / name).read_bytes() == release_bytes[name]
    locked = json.loads((directory / LOCK_NAME).read_text())["files"][name]
    assert locked["sha256"] == sha(release_bytes[name])
    assert not list(directory.glob(".*.part*"))


@pytest.mark.parametrize("variant", ["content-range", "no-content-range"])
def test_a_206_that_restarts_from_byte_0_is_never_appended(server, tmp_path, release_bytes, variant):
    server.faults[WORLD] = Fault(drop_after=1000, drops=1, range_from_zero=variant)
    download("world", tmp_path, options(server))
    assert_exact_and_locked(tmp_path, release_bytes)


@pytest.mark.parametrize("body, says", [
    (b"<!DOCTYPE html>\n<html><body>This share link has expired.</body></html>", "HTML or XML page"),
    (b"", r"empty \(0 bytes\)"),
    (b'{"error": "not found"}\n', "JSON with no dialogue"),
])
def test_a_page_or_an_empty_body_is_refused_naming_file_url_and_what_came(server, tmp_path, body, says):
    server.faults[WORLD] = Fault(body=body, content_type="text/html")
    with pytest.raises(DownloadError, match=f"{WORLD}: http://127.0.0.1.*({says})") as error:
        download("world", tmp_path, options(server))
    assert "/f/0a27393192ad46a5a081/" in str(error.value)  # the URL asked for
    assert_nothing_saved(tmp_path)


def test_a_part_of_unknown_origin_is_not_resumed(server, tmp_path, release_bytes):
    size = len(release_bytes[WORLD])
    (tmp_path / f".{WORLD}.part").write_bytes(b"x" * (size // 2))  # other bytes, e.g. an old copy
    download("world", tmp_path, options(server))
    assert_exact_and_locked(tmp_path, release_bytes)
    assert not any(r for _, path, r in server.log if path.endswith(WORLD))  # fetched from byte 0


def test_a_part_of_a_file_that_changed_since_is_sent_whole(server, tmp_path, release_bytes):
    old = b'{"id": "old", "data": ["q", "a"]}\n' * 2000
    server.files[WORLD] = old
    server.faults[WORLD] = Fault(drop_after=20_000, drops=1)
    with pytest.raises(DownloadError):  # an interrupted run: it leaves a part and its validator
        download("world", tmp_path, options(server, retries=0))
    assert (tmp_path / f".{WORLD}.part").stat().st_size == 20_000
    server.files[WORLD] = release_bytes[WORLD]  # the host now has another file
    server.log.clear()
    download("world", tmp_path, options(server))
    assert_exact_and_locked(tmp_path, release_bytes)
    assert [r for _, path, r in server.log if path.endswith(WORLD)] == ["bytes=20000-"]  # asked...


def test_a_part_of_the_same_file_resumes_across_runs(server, tmp_path, release_bytes):
    server.faults[WORLD] = Fault(drop_after=1000, drops=1)
    with pytest.raises(DownloadError):
        download("world", tmp_path, options(server, retries=0))
    server.log.clear()
    download("world", tmp_path, options(server))
    assert_exact_and_locked(tmp_path, release_bytes)
    assert [r for _, path, r in server.log if path.endswith(WORLD)] == ["bytes=1000-"]


def test_a_trickling_host_is_given_up_on_by_its_speed(server, tmp_path):
    server.faults[WORLD] = Fault(trickle=0.05)
    with pytest.raises(DownloadError, match=f"{WORLD}: .*gave up after 1 attempts.*under min_speed"):
        download("world", tmp_path, options(server, retries=0, min_speed=1000, speed_window=0.3))
    assert_nothing_saved(tmp_path, part_kept=True)


def test_a_download_ends_at_its_total_timeout(server, tmp_path):
    server.faults[WORLD] = Fault(trickle=0.02)
    with pytest.raises(DownloadError, match=f"{WORLD}: .*not complete after 1 s"):
        download("world", tmp_path, options(server, min_speed=0, total_timeout=1.0))
    assert_nothing_saved(tmp_path, part_kept=True)


def test_a_redirect_to_a_non_http_url_names_the_file(server, tmp_path):
    server.faults[WORLD] = Fault(redirect="file:///etc/passwd")
    with pytest.raises(DownloadError, match=f"{WORLD}: .*redirected to file:///etc/passwd.*not http"):
        download("world", tmp_path, options(server))
    assert_nothing_saved(tmp_path)


def test_a_dns_failure_fails_at_once_and_points_to_offline(tmp_path, monkeypatch):
    import socket
    looked_up = []

    def no_dns(host, *args, **kwargs):
        looked_up.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    settings = DownloadOptions(source="auto", mirror="http://ultrachat-mirror.test/files",
                               progress=False, backoff=5.0, retries=4, offline=False)
    with pytest.raises(DownloadError, match="cannot resolve ultrachat-mirror.test.*--offline"):
        download("all", tmp_path, settings)
    # One look-up a file fetched at once (4 workers), none retried, no second origin tried.
    assert set(looked_up) == {"ultrachat-mirror.test"} and len(looked_up) <= 4


def test_offline_says_what_was_checked_and_what_was_not(server, tmp_path, release_bytes):
    download("world", tmp_path, options(server))
    assert download("world", tmp_path, options(server, offline=True)).checks == {WORLD: "sha256 checked"}
    copied = "ultrachat_material_release_230412.json"  # copied by hand: nothing known of it
    other = "ultrachat_material_release_230417.json"
    for name in (copied, other):
        (tmp_path / name).write_bytes(release_bytes[name])
    checks = download("writing", tmp_path, options(server, offline=True)).checks
    assert checks[copied] == "not checked (no hash or size known for it)"
    result = run_cli("download", "writing", "--dest", str(tmp_path), "--offline", "--quiet")
    assert result.returncode == 0 and "not checked" in result.stdout and "verified" not in result.stdout


def test_the_builder_downloads_then_serves_its_cache_without_preparing_again(server, tmp_path,
                                                                             monkeypatch):
    import ultrachat_dataset
    monkeypatch.setenv("ULTRACHAT_TSINGHUA_ENDPOINT", server.url)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    loads = [ultrachat_dataset.load_dataset("world", source="tsinghua", cache_dir=str(tmp_path))
             for _ in range(2)]
    assert loads[0]["train"].num_rows == loads[1]["train"].num_rows > 0
    assert len(list((tmp_path / "ultrachat_prepared").iterdir())) == 1  # prepared once
    assert (tmp_path / "ultrachat_release" / LOCK_NAME).is_file()


def test_download_offline_with_the_default_source_checks_files_against_the_lock(server, tmp_path,
                                                                                 release_bytes):
    download("world", tmp_path, options(server))  # locked
    checked = run_cli("download", "world", "--dest", str(tmp_path), "--offline", "--quiet")
    assert checked.returncode == 0, checked.stderr
    assert "sha256 checked" in checked.stdout and "not checked" not in checked.stdout
    changed = bytearray(release_bytes[WORLD])
    changed[10] = ord("X") if changed[10] != ord("X") else ord("Y")  # same size, other bytes
    (tmp_path / WORLD).write_bytes(bytes(changed))
    for flags in (("--offline",), ()):  # `download` checks what it finds, online too
        refused = run_cli("download", "world", "--dest", str(tmp_path), "--quiet", *flags)
        assert refused.returncode == 2
        assert f"{WORLD}: sha256 differs from {LOCK_NAME}" in refused.stderr


def test_a_redirect_loop_is_called_a_loop_and_a_relative_location_followed(server, tmp_path, release_bytes):
    server.faults[WORLD] = Fault(redirect=f"/seafhttp/files/0123-abcd/{WORLD}")  # to itself
    with pytest.raises(DownloadError, match=f"{WORLD}: .*a redirect loop") as raised:
        download("world", tmp_path, options(server))
    assert "not http" not in str(raised.value)
    assert_nothing_saved(tmp_path)
    server.faults[WORLD] = Fault(redirect=f"/mirror/{WORLD}", redirects=1)  # relative, once
    download("world", tmp_path, options(server))
    assert (tmp_path / WORLD).read_bytes() == release_bytes[WORLD]
