"""The `ultrachat` command as a user runs it: a subprocess, its output and its exit code."""

import dataclasses
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
    (("prepare", "writing", "--data-dir", str(sample_dir()), "--out", "x", "--test-fraction", "1"),
     "--test-fraction (test_fraction) 1.0: give a share from 0 up to (not including) 1"),
])
def test_user_errors_are_one_line_and_exit_2(args, message):
    result = ultrachat(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


COMMANDS = ("synth", "demo", "prepare", "download", "convert", "stats", "generate", "explore", "push")


@pytest.mark.parametrize("command", [(), *((name,) for name in COMMANDS)])
def test_every_command_has_help_and_it_imports_no_heavy_library(command):
    code = ("import sys\nfrom ultrachat_dataset.cli import main\ntry:\n    main([*sys.argv[1:], '--help'])\n"
            "except SystemExit:\n    pass\nprint('heavy:', sorted({'polars', 'pyarrow', 'numba', 'datasets', "
            "'ftfy', 'langdetect', 'transformers', 'openai'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code, *command], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0 and "usage: ultrachat" in result.stdout, result.stderr
    heavy = result.stdout.rsplit("heavy: ", 1)[1]
    if command == ("prepare",):  # its flags are the stages' declared options: it imports the stages
        assert not {"'datasets'", "'transformers'", "'openai'"} & set(heavy.strip("[]\n").split(", "))
    else:
        assert heavy.strip() == "[]"


def test_prepare_flags_and_builder_fields_are_the_declared_options():
    """Every option a stage declares is a `prepare` flag (help from its field) and a builder
    config field, with the same default: an option added to a stage cannot be missing from either."""
    from ultrachat_dataset.builder import UltraChatConfig
    from ultrachat_dataset.cli import build_parser
    from ultrachat_dataset.prepare.pipeline import PrepareOptions
    declared = {item.name: item for item in PrepareOptions.fields()}
    assert {"near_chars", "bands", "rows_per_band", "shingle_words", "test_fraction"} <= set(declared)
    prepare = build_parser().commands["prepare"]
    args = prepare.parse_args(["--out", "x"])
    flags = {action.dest: action for action in prepare._actions if action.dest in declared}
    assert set(flags) == set(declared)
    for name, item in declared.items():
        assert item.help in flags[name].help
        assert getattr(args, name) == item.default  # the flag's default is the field's
    config_fields = {field.name: field for field in dataclasses.fields(UltraChatConfig)}
    assert set(declared) <= set(config_fields)
    defaults = {name: item.default for name, item in declared.items()}
    assert {name: config_fields[name].default for name in declared} == defaults
    # Values typed as a user types them become the options the pipeline takes.
    typed = prepare.parse_args(["--out", "x", "--no-fix-text", "--languages", "any", "--bands", "20",
                                "--dedup", "exact,opener", "--filters", "none", "--odd-turns", "reject"])
    options = PrepareOptions(**{name: getattr(typed, name) for name in declared}).as_dict()
    assert options | {"fix_text": False, "languages": None, "dedup": ("exact", "opener"), "bands": 20,
                      "filters": (), "odd_turns": "reject"} == options


def test_every_option_says_what_it_does_and_folders_have_one_name():
    from ultrachat_dataset.cli import build_parser
    parser = build_parser()
    for name, command in parser.commands.items():
        for action in command._actions:
            if action.help != "==SUPPRESS==" and action.dest != "help":
                assert action.help, f"ultrachat {name} {action.option_strings or action.dest}: no help"
        options = {option for action in command._actions for option in action.option_strings}
        assert not options & {"--dest", "--folder"} or name in ("download", "push")  # old names: aliases
        if name in ("demo", "prepare", "download"):
            assert "--data-dir" in options
    help_text = ultrachat("prepare", "--help").stdout
    assert "fewer exchanges than N" in help_text and "(default: 2000)" in help_text


def test_a_misspelled_option_is_named_by_its_command_with_a_guess():
    result = ultrachat("prepare", "writing", "--out", "x", "--data_dir", "release")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("ultrachat prepare: error: unrecognized arguments: --data_dir "
                                    "(did you mean --data-dir?)")
    assert "see ultrachat prepare --help" in result.stderr


def test_a_file_name_for_a_converted_folder_is_refused(tmp_path):
    out = tmp_path / "prepared"
    assert ultrachat("demo", "--quiet", "--out", str(out)).returncode == 0
    result = ultrachat("convert", str(out), str(tmp_path / "x.csv"), "--to", "sharegpt", "--quiet")
    assert result.returncode == 2 and "x.csv: a file is written as .parquet or .jsonl" in result.stderr
    assert not (tmp_path / "x.csv").exists()


def test_demo_into_a_users_folder_is_refused_then_replaced_with_overwrite(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    refused = ultrachat("demo", "--quiet", "--out", str(tmp_path))
    assert refused.returncode == 2 and "--overwrite" in refused.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"
    replaced = ultrachat("demo", "--quiet", "--out", str(tmp_path), "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert not (tmp_path / "notes.txt").exists() and (tmp_path / "README.md").is_file()


def test_demo_never_replaces_a_dataset_prepare_wrote_and_prepare_says_what_it_replaces(tmp_path):
    from conftest import file_digests
    out = tmp_path / "ultrachat"
    first = ultrachat("prepare", "all", "--data-dir", str(sample_dir()), "--out", str(out), "--quiet")
    assert first.returncode == 0, first.stderr
    assert "replacing" not in first.stderr  # nothing was there
    before = file_digests(out)
    demo = ultrachat("demo", "--quiet", "--out", str(out))
    assert demo.returncode == 2 and "the demo replaces only its own output" in demo.stderr
    assert "written by `ultrachat prepare`" in demo.stderr and "--overwrite" in demo.stderr
    assert file_digests(out) == before
    again = ultrachat("prepare", "all", "--data-dir", str(sample_dir()), "--out", str(out), "--quiet")
    assert again.returncode == 0, again.stderr
    kept = json.loads((out / "report.json").read_text())["kept"]
    said = f"replacing {out} (config 'all', {kept:,} dialogues written by `ultrachat prepare`)"
    assert said in again.stderr


def test_demo_replaces_its_own_output_and_says_so(tmp_path):
    out = tmp_path / "demo"
    assert ultrachat("demo", "--quiet", "--out", str(out)).returncode == 0
    again = ultrachat("demo", "--quiet", "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert "written by `ultrachat demo`" in again.stderr and "replacing" in again.stderr


@pytest.fixture
def counting_hub(monkeypatch):
    """A Hub endpoint on 127.0.0.1 that counts what it is asked (and answers 404)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    asked = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            self.send_error(404)
        do_HEAD = do_GET

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", asked
    server.shutdown()
    server.server_close()


def load_in(folder, expression, endpoint, cache):
    """Run `import datasets; print(<expression>)` in `folder`, with `endpoint` as the Hub."""
    import os
    env = {**os.environ, "HF_ENDPOINT": endpoint, "HF_HOME": str(cache), "HF_HUB_OFFLINE": "0",
           "HF_DATASETS_OFFLINE": "0"}
    return subprocess.run([sys.executable, "-c", f"import datasets; ds = {expression}; "
                           "print('rows', sum(len(split) for split in ds.values()))"],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_the_load_lines_printed_and_in_the_readme_never_ask_the_hub_nor_serve_a_stale_cache(
        tmp_path, counting_hub):
    endpoint, asked = counting_hub
    project, elsewhere, cache = tmp_path / "project", tmp_path / "elsewhere", tmp_path / "hf"
    project.mkdir(), elsewhere.mkdir()
    result = subprocess.run([sys.executable, "-m", "ultrachat_dataset.cli", "prepare", "writing",
                             "--data-dir", str(sample_dir()), "--out", "ultrachat", "--quiet"],
                            cwd=project, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    [printed] = re.findall(r"datasets\.load_dataset\(.*\)", result.stdout)
    assert str(project / "ultrachat") in printed  # absolute: the same folder from anywhere
    kept = json.loads((project / "ultrachat" / "report.json").read_text())["kept"]
    from_elsewhere = load_in(elsewhere, printed, endpoint, cache)
    assert from_elsewhere.returncode == 0, from_elsewhere.stderr[-2000:]
    assert f"rows {kept}" in from_elsewhere.stdout
    readme = 'datasets.load_dataset("./ultrachat", "writing")'
    assert readme in (sample_dir().parent.parent / "README.md").read_text()
    assert f"rows {kept}" in load_in(project, readme, endpoint, cache).stdout
    # From a folder with no `ultrachat/`, after the one above was cached: an error, not its rows.
    missing = load_in(elsewhere, readme, endpoint, cache)
    assert missing.returncode != 0 and "rows" not in missing.stdout
    assert asked == []


@pytest.mark.parametrize("hub", ["down", "answers 404", "offline"])
def test_a_tokenizer_that_cannot_be_had_is_one_line(tmp_path, counting_hub, hub):
    import os

    from conftest import needs
    needs("transformers")
    endpoint, asked = counting_hub
    closed = socket_port_closed()
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1" if hub == "offline" else "0",
           "HF_ENDPOINT": endpoint if hub == "answers 404" else f"http://127.0.0.1:{closed}"}
    result = subprocess.run([sys.executable, "-m", "ultrachat_dataset.cli", "convert", str(sample_dir()),
                             str(tmp_path / "r.parquet"), "--to", "template", "--tokenizer", "org/no-such"],
                            capture_output=True, text=True, timeout=300, env=env, check=False)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert "tokenizer 'org/no-such'" in result.stderr
    assert bool(asked) == (hub == "answers 404")


def socket_port_closed() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def in_a_terminal(*args) -> str:
    """What `ultrachat ARGS` shows on a terminal (a pseudo-terminal of 120 columns)."""
    import fcntl
    import os
    import pty
    import struct
    import termios
    pid, fd = pty.fork()
    if pid == 0:  # the child: its stdout and stderr are the terminal
        os.execv(sys.executable, [sys.executable, "-m", "ultrachat_dataset.cli", *args])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    shown = bytearray()
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.waitpid(pid, 0)
    return shown.decode("utf-8", "replace")


def test_prepare_shows_one_bar_that_is_full_only_when_every_dialogue_is_written(tmp_path):
    shown = in_a_terminal("prepare", "all", "--data-dir", str(sample_dir()), "--out", str(tmp_path / "out"))
    kept = json.loads((tmp_path / "out" / "report.json").read_text())["kept"]
    states = [state for state in shown.replace("\r", "\n").splitlines() if state.startswith("preparing")]
    assert states and "reading" not in shown
    full = [state for state in states if "100%" in state]
    assert full and f"{kept:,} dialogues kept" in full[0]  # not full while blocks are still on the way
    quiet = in_a_terminal("prepare", "all", "--data-dir", str(sample_dir()), "--out", str(tmp_path / "q"),
                          "--quiet")
    assert "preparing" not in quiet and "%|" not in quiet
    logged = ultrachat("prepare", "all", "--data-dir", str(sample_dir()), "--out", str(tmp_path / "log"))
    assert "%|" not in logged.stderr  # not a terminal: no bar in the log


def test_a_command_whose_extra_is_missing_says_which_extra(tmp_path):
    code = ("import sys\nsys.modules['matplotlib'] = None  # as where the plot extra is not installed\n"
            "from ultrachat_dataset.cli import main\nsys.exit(main(sys.argv[1:]))")
    result = subprocess.run([sys.executable, "-c", code, "stats", str(sample_dir()), "--quiet", "--sample",
                             "50", "--plot", str(tmp_path)], capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "needs matplotlib: install the `plot` extra (uv run --extra plot ultrachat stats" in result.stderr


def test_convert_shows_a_bar_full_at_the_dialogues_of_what_it_converts(tmp_path):
    import pyarrow.parquet as pq
    out = tmp_path / "prepared"
    assert ultrachat("demo", "--quiet", "--out", str(out)).returncode == 0
    shown = in_a_terminal("convert", str(out), str(tmp_path / "train.jsonl"), "--to", "raw", "--config",
                          "writing", "--split", "train")
    rows = sum(pq.ParquetFile(path).metadata.num_rows for path in (out / "data" / "writing").glob("train-*"))
    states = [state for state in shown.replace("\r", "\n").splitlines() if state.startswith("converting")]
    assert states and f"{rows}/{rows}" in states[-1] and "100%" in states[-1]  # one split, not the folder


def test_a_reader_that_leaves_the_pipe_gets_no_traceback():
    """`ultrachat demo | head -1`: the rest of the output has nowhere to go; that is no error."""
    import os
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader left before anything was written
    result = subprocess.run([sys.executable, "-m", "ultrachat_dataset.cli", "demo", "--quiet"],
                            stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    os.close(write_end)
    assert result.returncode == 141 and "Traceback" not in result.stderr, result.stderr
