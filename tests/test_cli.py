"""The `ultrachat` command as a user runs it: a subprocess, its output and its exit code."""

import json
import re
import subprocess
import sys

import pytest

from ultrachat_dataset.release.sources import sample_dir


def ultrachat(*args):
    return subprocess.run([sys.executable, "-m", "ultrachat_dataset.cli", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def demo_summary(stdout):
    """(lines, kept, rejected) from the demo's summary line."""
    match = re.search(r"(\d+) lines -> (\d+) dialogues kept, (\d+) lines rejected", stdout)
    return tuple(int(x) for x in match.groups())


def test_demo_reads_the_bundled_sample_and_accounts_for_every_line():
    result = ultrachat("demo", "--quiet")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((sample_dir() / "manifest.json").read_text())
    lines, kept, rejected = demo_summary(result.stdout)
    assert lines == sum(f["lines"] for f in manifest["files"].values())
    assert lines == kept + rejected and rejected > 0
    assert "rejected, by reason:" in result.stdout and "invalid_json" in result.stdout
    assert "One dialogue:" in result.stdout and "assistant:" in result.stdout


def test_synth_then_demo_on_it(tmp_path):
    result = ultrachat("synth", "--out", str(tmp_path), "--dialogues", "60", "--seed", "5",
                       "--defects", "invalid_json=0.2", "--file-defects", "crlf")
    assert result.returncode == 0, result.stderr
    files = json.loads((tmp_path / "manifest.json").read_text())["files"]
    writing = [f for name, f in files.items() if "material_release_2304" in name
               and "existent" not in name]
    demo = ultrachat("demo", "writing", "--data-dir", str(tmp_path), "--quiet")
    assert demo.returncode == 0, demo.stderr
    lines, _, rejected = demo_summary(demo.stdout)
    assert lines == sum(f["lines"] for f in writing)
    assert rejected == sum(f.get("invalid_json", 0) for f in writing) > 0


@pytest.mark.parametrize("args, message", [
    (("demo", "chat"), "invalid choice: 'chat' (choose from 'all', 'world', 'writing', 'assistance')"),
    (("prepare", "writing", "--data-dir", "x"), "the following arguments are required: --out"),
    (("demo", "--data-dir", "/nonexistent/dir"), "/nonexistent/dir does not exist"),
    (("synth", "--out", "x", "--defects", "typo=0.1"), "unknown defect kind typo"),
])
def test_user_errors_are_one_line_and_exit_2(args, message):
    result = ultrachat(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command", [(), ("synth",), ("demo",)])
def test_every_command_has_help(command):
    result = ultrachat(*command, "--help")
    assert result.returncode == 0 and "usage: ultrachat" in result.stdout


def test_demo_into_a_users_folder_is_refused_then_replaced_with_overwrite(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    refused = ultrachat("demo", "--quiet", "--out", str(tmp_path))
    assert refused.returncode == 2 and "--overwrite" in refused.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"
    replaced = ultrachat("demo", "--quiet", "--out", str(tmp_path), "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert not (tmp_path / "notes.txt").exists() and (tmp_path / "README.md").is_file()
