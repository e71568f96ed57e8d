"""The whole pipeline on synthesized corpora: every defect lands under its reason, on its line,
the accounting holds through every stage, and two runs write identical bytes."""

import hashlib
import json
import re
from collections import Counter, defaultdict

import pyarrow.parquet as pq
import pytest

from conftest import REJECTED_AS, file_digests
from ultrachat_dataset.errors import ConfigError
from ultrachat_dataset.prepare.pipeline import PrepareOptions, prepare
from ultrachat_dataset.release import _synth_text
from ultrachat_dataset.release.sources import local_inputs
from ultrachat_dataset.release.synth import DEFECTS, synthesize

# Defects whose rows the later stages reject, with the reason each must carry.
STAGE_REJECTS = {"self_disclaimer": "self_disclaimer", "duplicate": "exact_duplicate",
                 "benchmark_prompt": "benchmark_overlap"}
STAGE_REPAIRS = {"polite_closing": "trimmed_polite_closing", "casing": "fixed_sentence_case",
                 "mojibake": "text_repaired", "odd_turns": "trimmed_dangling_turn",
                 "numeric_id": "id_number_to_string", "cp1256_mojibake": "fixed_cp1256_mojibake"}
STAGE_FLAGS = {"replacement_character": "replacement_character"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    synthesize(out, dialogues=2500, seed=21, length_scale=0.3,
               defect_rates={kind: 0.012 for kind in DEFECTS})
    prompts = out.parent / "benchmark.txt"
    prompts.write_text("\n".join(_synth_text.BENCHMARK_PROMPTS) + "\n")
    return out, prompts


@pytest.fixture(scope="module")
def prepared(corpus, tmp_path_factory):
    data, prompts = corpus
    out = tmp_path_factory.mktemp("prepared")
    report = prepare(local_inputs("all", data), out, "all",
                     PrepareOptions(decontaminate=str(prompts)), progress=False)
    return out, report


def rejected_lines(out, config="all"):
    """reason -> {(source, line)} from the rejects parquet."""
    found = defaultdict(set)
    for row in pq.read_table(out / "rejects" / f"{config}.parquet").to_pylist():
        found[row["reason"]].add((row["source"], row["line"]))
    return found


def defect_lines(data_dir, kind):
    files = json.loads((data_dir / "manifest.json").read_text())["files"]
    return {(name, line) for name, entry in files.items()
            for line in entry["defect_lines"].get(kind, [])}


def test_every_line_defect_is_rejected_on_its_line_with_its_reason(corpus, prepared):
    data, _ = corpus
    out, _ = prepared
    found = rejected_lines(out)
    for kind, reason in {**REJECTED_AS, **STAGE_REJECTS}.items():
        assert found[reason] == defect_lines(data, kind), kind


def test_non_english_dialogues_are_rejected_with_their_language(corpus, prepared):
    data, _ = corpus
    found = rejected_lines(prepared[0])
    by_language = {reason: lines for reason, lines in found.items() if reason.startswith("lang_")}
    assert set().union(*by_language.values()) == defect_lines(data, "non_english")
    assert set(by_language) <= {"lang_fr", "lang_de", "lang_es", "lang_zh-cn", "lang_ru"}


def test_near_duplicates_are_found_without_false_positives(corpus, prepared):
    data, _ = corpus
    expected = defect_lines(data, "near_duplicate")
    found = rejected_lines(prepared[0])["near_duplicate"]
    assert found <= expected  # no clean dialogue is called a near duplicate
    assert len(found) >= 0.9 * len(expected)


def test_repairs_are_counted(corpus, prepared):
    data, _ = corpus
    totals = prepared[1].totals()
    for kind, repair in STAGE_REPAIRS.items():
        assert totals.repaired[repair] == len(defect_lines(data, kind)), kind


def test_flags_are_counted_and_on_the_rows(corpus, prepared):
    data, _ = corpus
    out, report = prepared
    flagged = {(row["source"], row["line"]): row["flags"] for path in sorted(out.glob("data/*/*.parquet"))
               for row in pq.read_table(path, columns=["source", "line", "flags"]).to_pylist()}
    for kind, flag in STAGE_FLAGS.items():
        expected = {line for line in defect_lines(data, kind) if line in flagged}  # dedup may drop some
        assert {line for line, flags in flagged.items() if flag in flags} == expected, kind
        assert report.totals().flagged[flag] == len(defect_lines(data, kind))


def test_what_real_text_holds_and_no_rule_can_be_sure_of_is_left_as_written(corpus, prepared):
    """Lowercase paragraph starts are real, and left alone; names with !, abbreviations and
    quotations the corpus holds stay as written: the clean corpus gets no sentence case edit."""
    data, _ = corpus
    out, _ = prepared
    kept = {(row["source"], row["line"]): row["messages"] for path in sorted(out.glob("data/*/*.parquet"))
            for row in pq.read_table(path, columns=["source", "line", "messages"]).to_pylist()}
    lowercase = [line for line in defect_lines(data, "lowercase_paragraph") if line in kept]
    assert lowercase
    for line in lowercase:
        assert re.search(r"\n\n[a-z]", kept[line][1]["content"])
    clean_corpus = synthesize(out.parent / "clean-corpus", dialogues=600, seed=8, length_scale=0.5)
    assert clean_corpus["files"]
    report = prepare(local_inputs("all", out.parent / "clean-corpus"), out.parent / "clean-out", "all",
                     progress=False)
    assert report.totals().repaired.get("fixed_sentence_case", 0) == 0
    traps = sum("Zap! figures" in turn or "tsp. salt" in turn or "Dept. of" in turn
                for path in sorted((out.parent / "clean-out").glob("data/*/*.parquet"))
                for row in pq.read_table(path, columns=["messages"]).to_pylist()
                for turn in (message["content"] for message in row["messages"]))
    assert traps  # the corpus holds them, and they came through unchanged


def test_accounting_holds_through_every_stage(corpus, prepared):
    data, _ = corpus
    out, report = prepared
    written = json.loads((out / "report.json").read_text())
    manifest = json.loads((data / "manifest.json").read_text())["files"]
    assert written["lines"] == sum(f["lines"] for f in manifest.values())
    assert written["lines"] == written["kept"] + sum(written["rejected"].values())
    for name, counts in written["files"].items():
        assert counts["lines"] == manifest[name]["lines"]
        assert counts["lines"] == counts["kept"] + sum(counts["rejected"].values())
    rows = pq.read_table(out / "data").num_rows
    rejects = pq.read_table(out / "rejects" / "all.parquet").num_rows
    assert rows == written["kept"] and rejects == sum(written["rejected"].values())


def test_duplicates_name_the_kept_dialogue_they_duplicate(prepared):
    out, _ = prepared
    kept = {(r["source"], r["line"]) for r in
            pq.read_table(out / "data", columns=["source", "line"]).to_pylist()}
    rejects = pq.read_table(out / "rejects" / "all.parquet").to_pylist()
    duplicates = [r for r in rejects if r["stage"] == "dedup"]
    assert duplicates
    for row in duplicates:
        source, line = re.fullmatch(r"duplicate of (\S+) line (\d+) \(id .*\)", row["detail"]).groups()
        assert (source, int(line)) in kept


def test_output_rows_are_english_messages_with_sectors(prepared):
    table = pq.read_table(prepared[0] / "data")
    row = table.slice(0, 1).to_pylist()[0]
    assert row["sector"] in {"world", "writing", "assistance"}
    assert [m["role"] for m in row["messages"]][:2] == ["user", "assistant"]
    assert row["num_exchanges"] * 2 == len(row["messages"])
    assert set(table.column("language").to_pylist()) == {"en"}


def test_two_runs_write_identical_bytes(corpus, tmp_path):
    data, _ = corpus
    for name in ("a", "b"):
        prepare(local_inputs("writing", data), tmp_path / name, "writing", progress=False)
    assert file_digests(tmp_path / "a") == file_digests(tmp_path / "b")


def test_filters_can_be_turned_off(corpus, tmp_path):
    data, _ = corpus
    options = PrepareOptions(fix_text=False, filters=(), languages=None, dedup=())
    report = prepare(local_inputs("world", data), tmp_path, "world", options, progress=False)
    rejected = report.totals().rejected
    assert set(rejected) <= set(REJECTED_AS.values()) | {"truncated_line"}
    assert not report.totals().repaired["text_repaired"]
    assert report.as_dict()["options"]["dedup"] == ()


def test_length_limits_and_opener_dedup(corpus, tmp_path):
    data, _ = corpus
    options = PrepareOptions(min_exchanges=3, max_chars=3000, dedup=("exact", "opener"))
    report = prepare(local_inputs("writing", data), tmp_path, "writing", options, progress=False)
    rejected = report.totals().rejected
    assert rejected["too_few_exchanges"] > 0 and rejected["too_long"] > 0
    assert rejected["duplicate_opener"] > 0  # writing openers repeat across dialogues
    for row in pq.read_table(tmp_path / "data" / "writing").to_pylist():
        assert row["num_exchanges"] >= 3
        assert sum(len(m["content"]) for m in row["messages"]) <= 3000


def test_unknown_filter_and_dedup_mode_are_clear_errors():
    with pytest.raises(ConfigError, match="unknown filter typo: choose from"):
        PrepareOptions(filters=("typo",))
    with pytest.raises(ConfigError, match="unknown dedup mode fuzzy"):
        PrepareOptions(dedup=("fuzzy",))


def test_every_reject_is_whole_names_its_id_and_says_what_failed(corpus, prepared):
    data, _ = corpus
    out, _ = prepared
    rejects = pq.read_table(out / "rejects" / "all.parquet").to_pylist()
    lines = {name: (data / name).read_bytes().split(b"\n") for name in {r["source"] for r in rejects}}
    assert {r["stage"] for r in rejects} >= {"read", "validate", "clean", "langid", "decontaminate",
                                             "dedup"}
    for reject in rejects:
        assert reject["detail"], reject["reason"]
        if reject["stage"] == "read":  # the line exactly as it is in the file, however long
            raw_line = lines[reject["source"]][reject["line"] - 1]
            assert reject["raw"] == raw_line.decode("utf-8", "replace").removesuffix("\r")
            named = re.match(r'\{"id": "([^"\\]*)"', reject["raw"])
            assert reject["id"] == (named.group(1) if named else reject["id"])
        else:  # a parsed row: its raw is the row, and its id is the row's
            assert json.loads(reject["raw"])["id"] == reject["id"]
    ids_of_bad_json = [r["id"] for r in rejects if r["reason"] == "invalid_json"]
    assert ids_of_bad_json and all(ids_of_bad_json)  # cut lines still name their dialogue


def test_every_row_has_a_unique_key_and_the_prompt_columns_of_ultrachat_200k(prepared, corpus):
    out, report = prepared
    lines = {path.name: path.read_text(encoding="utf-8", errors="replace").split("\n")
             for path in corpus[0].glob("*.json")}
    rows = [row for path in sorted(out.glob("data/*/*.parquet")) for row in pq.read_table(path).to_pylist()]
    keys = [row["key"] for row in rows]
    assert len(keys) == len(set(keys)) == report.totals().kept
    assert len({row["id"] for row in rows}) < len(rows)  # the release ids alone repeat
    for row in rows:
        assert row["key"] == f"{row['source']}:{row['line']}"
        assert row["prompt"] == row["messages"][0]["content"]
    # prompt_id is ultrachat_200k's: the sha256 of the opener as released, before any repair.
    repaired_openers = 0
    for row in rows:
        released = json.loads(lines[row["source"]][row["line"] - 1])["data"][0]
        assert row["prompt_id"] == hashlib.sha256(released.encode("utf-8")).hexdigest()
        repaired_openers += released != row["prompt"]
    assert repaired_openers  # the corpus has openers that clean repairs (casing, mojibake)


def test_report_counts_every_stage_and_each_takes_what_the_one_before_kept(prepared):
    out, _ = prepared
    report = json.loads((out / "report.json").read_text())
    stages = report["stages"]
    assert list(stages) == ["read", "validate", "langid", "clean", "decontaminate", "dedup"]
    assert stages["read"]["in"] == report["lines"] and stages["dedup"]["kept"] == report["kept"]
    for before, after in zip(stages, list(stages)[1:]):
        assert stages[after]["in"] == stages[before]["kept"]
    rejects = pq.read_table(out / "rejects" / "all.parquet").to_pylist()
    for name, counts in stages.items():
        assert counts["in"] == counts["kept"] + counts["rejected"]
        assert counts["rejected"] == sum(row["stage"] == name for row in rejects)
        assert counts["seconds"] > 0
    repaired = Counter()
    for counts in stages.values():
        repaired.update(counts["repaired"])
    assert repaired == Counter(report["repaired"])
    # The per-text library calls: langdetect for the dialogues the cheap signals leave open,
    # ftfy for the turns that can need a repair (the corpus has mojibake and other languages).
    assert 0 < stages["langid"]["calls"]["langdetect"] < stages["langid"]["in"]
    assert stages["clean"]["calls"]["ftfy"] >= stages["clean"]["repaired"]["text_repaired"] > 0


def test_a_duplicate_names_the_row_it_duplicates_in_columns(prepared):
    out, _ = prepared
    rejects = pq.read_table(out / "rejects" / "all.parquet")
    kept = {(row["source"], row["line"]): row for path in out.glob("data/*/*.parquet")
            for row in pq.read_table(path, columns=["source", "line", "id"]).to_pylist()}
    duplicates = [row for row in rejects.to_pylist() if row["stage"] == "dedup"]
    assert {row["reason"] for row in duplicates} == {"exact_duplicate", "near_duplicate"}
    for row in duplicates:
        target = kept[row["duplicate_of_source"], row["duplicate_of_line"]]  # a kept row
        assert target["id"] == row["duplicate_of_id"]
        assert row["detail"] == (f"duplicate of {row['duplicate_of_source']} line "
                                 f"{row['duplicate_of_line']} (id {row['duplicate_of_id']})")
    others = [row for row in rejects.to_pylist() if row["stage"] != "dedup"]
    assert others and all(row["duplicate_of_source"] is None for row in others)


def test_every_reason_a_stage_gives_is_one_it_declares(prepared):
    from ultrachat_dataset.stages.registry import DECLARED
    out, _ = prepared
    declared = {stage.name: set(stage.reasons) for stage in DECLARED}
    given = pq.read_table(out / "rejects" / "all.parquet", columns=["stage", "reason"]).to_pylist()
    for row in given:
        reason = "lang_<code>" if row["reason"].startswith("lang_") else row["reason"]
        assert reason in declared[row["stage"]], row
    assert {row["stage"] for row in given} == set(declared)  # the corpus makes every stage reject


def test_the_card_statistics_are_the_statistics_file(prepared):
    from ultrachat_dataset.insight.tables import format_table, read_statistics
    out, _ = prepared
    measured = read_statistics(out)
    assert [row.name for row in measured] == ["world", "writing", "assistance", "all"]
    assert format_table([("this dataset", row) for row in measured]) in (out / "README.md").read_text()
