"""The hash behind dedup keys has a fixed specification (XXH3-64), pinned here; and the outcome
of preparing the bundled sample is pinned, so that no library upgrade changes quietly which
lines are kept, rejected or called duplicates (update the pins only for a change you meant)."""

import hashlib
import json

import pyarrow as pa
import pyarrow.parquet as pq

from ultrachat_dataset.hashing import stable_hashes
from ultrachat_dataset.prepare import local_inputs, prepare
from ultrachat_dataset.release.sources import sample_dir

# XXH3-64 of the UTF-8 bytes, from its specification (the empty string with seed 0 is the
# reference value 0x2D06800538D394C2).
PINNED = [("", 0, 3244421341483603138), ("hello world", 7, 10234365256594894640),
          ("日本語のテキスト", 11, 1751225266178554793), ("a" * 1000, 3, 16954947586744142964)]
SAMPLE_REJECTS = "1804a143d93497092f2d747e3810f526b2df1a42c8edc8f62de55e155c3ba66a"
# Re-pinned: two sample rows (assistance lines 15 and 150) paste material in their opening turn,
# where sentence case now leaves the text as written ("Hello. it is ...").
SAMPLE_KEPT = "5a01e398b12926ef9a260415c67f2c9ea2aba476e62bb2a919739d75c164240c"


def test_the_hash_is_xxh3_64_whatever_the_installed_versions():
    for text, seed, expected in PINNED:
        assert stable_hashes(pa.array([text]), seed).tolist() == [expected]
        assert stable_hashes(pa.chunked_array([[text]]), seed).tolist() == [expected]


def test_chunks_large_strings_and_nulls_hash_as_plain_strings():
    values = ["a", "b", "a", None, "", "b"]
    plain = stable_hashes(pa.array(values), 5)
    chunked = pa.chunked_array([values[:2], values[2:]])
    assert stable_hashes(chunked, 5).tolist() == plain.tolist()
    assert stable_hashes(pa.array(values, pa.large_string()), 5).tolist() == plain.tolist()
    assert plain[0] == plain[2] != plain[1] and plain[3] == plain[4]


def test_preparing_the_bundled_sample_gives_the_pinned_outcome(tmp_path):
    out = tmp_path / "ultrachat"
    prepare(local_inputs("all", sample_dir()), out, "all", progress=False)
    rejects = sorted((row["source"], row["line"], row["reason"], row["detail"] or "")
                     for row in pq.read_table(out / "rejects" / "all.parquet").to_pylist())
    kept = sorted((row["key"], json.dumps(row["messages"], ensure_ascii=False))
                  for path in sorted(out.glob("data/*/*.parquet")) for row in pq.read_table(path).to_pylist())
    assert (len(rejects), len(kept)) == (84, 920)
    assert hashlib.sha256(json.dumps(rejects).encode()).hexdigest() == SAMPLE_REJECTS
    assert hashlib.sha256(json.dumps(kept).encode()).hexdigest() == SAMPLE_KEPT
