"""Questions a person asks of a prepared folder, answered from its parquet files in place.

Kept rows are read from `data/<folder>/<split>-*.parquet`, rejects from `rejects/<config>.parquet`,
counts from `report.json`; nothing is copied, nothing is written. polars scans the files with
the filters pushed down: a filtered page of 200k dialogues reads a few small columns; a text
search reads the turns once (~0.7 s at 200k on two cores, where DuckDB took ~1.3 s: see
`benchmarks/bench_explore.py --duckdb`). Rows are listed by source file, then line. Every answer
is plain data (str, int, lists, dicts), ready for JSON.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from ..errors import ConfigError
from ..insight.tables import read_statistics
from ..layout import PREPARED_SCHEMA, SPLITS
from ..release.sources import ALL_FILES, GENERATED_PATTERN

STATUSES = ("all", "kept", "rejected")
PAGE_SIZE = 50
MOST_PAGE_SIZE = 500
_LISTED = ["status", "source", "line", "id", "sector", "split", "stage", "reason", "exchanges",
           "language", "opening"]


@dataclass
class RowQuery:
    """A page of the table of dialogues: which rows, ordered by source file, then line."""

    status: str = "all"
    sector: str | None = None
    split: str | None = None  # kept rows only
    stage: str | None = None  # rejects only
    reason: str | None = None
    language: str | None = None
    min_exchanges: int | None = None
    max_exchanges: int | None = None
    min_chars: int | None = None
    max_chars: int | None = None
    search: str | None = None  # in the turns (kept) or the raw line (rejects), any case
    page: int = 0
    page_size: int = PAGE_SIZE

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ConfigError(f"status {self.status!r}: choose from {', '.join(STATUSES)}")
        if self.split is not None and self.split not in SPLITS:
            raise ConfigError(f"split {self.split!r}: choose from {', '.join(SPLITS)}")
        if self.page < 0 or not 1 <= self.page_size <= MOST_PAGE_SIZE:
            raise ConfigError(f"page must be >= 0 and page_size 1..{MOST_PAGE_SIZE}")


# The columns the explorer reads, by kind of file: a file without them is not the folder's.
KEPT_COLUMNS = ("source", "line", "id", "sector", "prompt", "messages", "num_exchanges", "language")
REJECT_COLUMNS = ("source", "line", "id", "stage", "reason", "detail", "raw")


class FolderError(ConfigError):
    """A file of the folder cannot be read as what `prepare` writes (one line naming it)."""


class Explorer:
    """Read-only views of one prepared folder (`OUT`, as `ultrachat prepare` writes it). Every
    file is checked at start (a broken or foreign one is one error naming it); a folder changed
    while it is served is said so by the answer that meets the change."""

    def __init__(self, out_dir: str | Path):
        self.out = Path(out_dir).resolve()
        self.report = _read_report(self.out)
        if not (self.out / "data").is_dir():
            raise FolderError(f"{self.out} has no data/ folder: give a folder written by "
                              "`ultrachat prepare` (its OUT), or prepare it again")
        self.kept_files = sorted((self.out / "data").glob("*/*.parquet"))
        self.reject_files = sorted((self.out / "rejects").glob("*.parquet"))
        for path in self.kept_files:
            _check_parquet(path, KEPT_COLUMNS)
        for path in self.reject_files:
            _check_parquet(path, REJECT_COLUMNS)
        self._sector_of_source = self._sectors_of_sources()
        self._reject_sizes = self._sizes_of_rejects()
        self.started = {path: path.stat().st_mtime_ns for path in (*self.kept_files, *self.reject_files)}

    def changed_files(self) -> list[str]:
        """Files read at start that are gone or rewritten since (a re-prepared folder)."""
        changed = []
        for path, mtime in self.started.items():
            try:
                if path.stat().st_mtime_ns != mtime:
                    changed.append(str(path.relative_to(self.out)))
            except OSError:
                changed.append(str(path.relative_to(self.out)))
        return changed

    # ---- overview -------------------------------------------------------------------------

    def overview(self) -> dict:
        """Counts by sector and split (from the parquet footers), by stage and reason, by file;
        the distribution of exchanges; each stage's counts; the statistics the card was made from."""
        by_folder: dict[str, dict[str, int]] = {}
        for path in self.kept_files:
            split = path.name.split("-", 1)[0]
            counts = by_folder.setdefault(path.parent.name, dict.fromkeys(SPLITS, 0))
            counts[split] = counts.get(split, 0) + pq.ParquetFile(path).metadata.num_rows
        rejects = self._rejects().group_by("stage", "reason").agg(pl.len().alias("rows")).sort(
            "rows", "stage", "reason", descending=[True, False, False]).collect().to_dicts()
        exchanges = (self._kept().group_by("exchanges").agg(pl.len().alias("rows")).sort("exchanges")
                     .collect().to_dicts()) if self.kept_files else []
        return {"folder": str(self.out), "lines": self.report.get("lines", 0),
                "kept": self.report.get("kept", 0), "rejected": self.report.get("rejected", {}),
                "repaired": self.report.get("repaired", {}), "files": self.report.get("files", {}),
                "options": self.report.get("options", {}), "by_sector": by_folder,
                "rejects_by_stage": rejects, "exchanges": exchanges, "stages": self.report.get("stages", {}),
                "statistics": [asdict(row) for row in read_statistics(self.out) or []],
                "warnings": self._disagreements(by_folder, rejects)}

    def _disagreements(self, by_folder: dict, rejects: list[dict]) -> list[str]:
        """Where report.json and the files disagree (a folder changed after `prepare`)."""
        in_shards = sum(sum(splits.values()) for splits in by_folder.values())
        in_rejects = sum(entry["rows"] for entry in rejects)
        said_kept = self.report.get("kept", 0)
        said_rejected = sum(self.report.get("rejected", {}).values())
        warnings = []
        if in_shards != said_kept:
            warnings.append(f"report.json says {said_kept:,} dialogues kept, but the shards in data/ "
                            f"hold {in_shards:,} rows: the folder was changed after `prepare`; "
                            "prepare it again")
        if in_rejects != said_rejected:
            warnings.append(f"report.json says {said_rejected:,} lines rejected, but rejects/ holds "
                            f"{in_rejects:,}: the folder was changed after `prepare`; prepare it again")
        return warnings

    # ---- the table ----------------------------------------------------------------------

    def rows(self, query: RowQuery) -> dict:
        """One page of rows matching `query`, and how many match in all. The matching rows are
        found reading only what the filters need; the page's columns are read for its rows only."""
        kept = query.status in ("all", "kept") and query.stage is None and query.reason is None
        rejected = query.status in ("all", "rejected") and query.split is None and bool(self.reject_files)
        places = [part.select("source", "line") for part, wanted in (
            (self._filtered_kept(query) if kept else None, kept),
            (self._filtered_rejects(query) if rejected else None, rejected)) if wanted]
        answer = {"total": 0, "page": query.page, "page_size": query.page_size, "rows": []}
        if not places:
            return answer
        found = pl.concat(places).collect().sort("source", "line")
        page = found.slice(query.page * query.page_size, query.page_size)
        listed = []
        if kept:
            listed.append(self._listed_kept().join(page.lazy(), on=["source", "line"], how="semi"))
        if rejected:
            listed.append(self._listed_rejects().join(page.lazy(), on=["source", "line"], how="semi"))
        rows = pl.concat([part.select(_LISTED) for part in listed], how="vertical_relaxed")
        return {**answer, "total": found.height,
                "rows": rows.collect().sort("source", "line").to_dicts()}

    def _kept(self) -> pl.LazyFrame:
        frames = [pl.scan_parquet(path).with_columns(pl.lit(path.name.split("-", 1)[0]).alias("split"))
                  for path in self.kept_files]
        kept = (pl.concat(frames, how="vertical_relaxed") if frames else
                pl.LazyFrame(schema=pl.from_arrow(PREPARED_SCHEMA.empty_table()).schema).with_columns(
                    pl.lit(None, pl.String).alias("split")))
        return kept.rename({"num_exchanges": "exchanges"}).with_columns(
            pl.lit("kept").alias("status"), pl.lit(None, pl.String).alias("stage"),
            pl.lit(None, pl.String).alias("reason"))

    def _filtered_kept(self, query: RowQuery) -> pl.LazyFrame:
        kept = self._kept().filter(
            _equal("sector", query.sector), _equal("split", query.split),
            _equal("language", query.language),
            _between("exchanges", query.min_exchanges, query.max_exchanges))
        contents = pl.col("messages").list.eval(pl.element().struct.field("content"))
        if query.search:
            kept = kept.filter(contents.list.eval(
                pl.element().str.contains(_any_case(query.search))).list.any())
        if query.min_chars is not None or query.max_chars is not None:  # reads all the text
            chars = contents.list.eval(pl.element().str.len_chars()).list.sum()
            kept = kept.filter(_between(chars, query.min_chars, query.max_chars))
        return kept

    def _listed_kept(self) -> pl.LazyFrame:
        return self._kept().with_columns(pl.col("prompt").str.slice(0, 200).alias("opening"))

    def _rejects(self) -> pl.LazyFrame:
        if not self.reject_files:
            return pl.LazyFrame(schema={"stage": pl.String, "reason": pl.String})
        return pl.concat([pl.scan_parquet(path) for path in self.reject_files], how="vertical_relaxed")

    def _listed_rejects(self) -> pl.LazyFrame:
        sized = self._rejects().join(self._reject_sizes.lazy(), on=["source", "line"], how="left")
        return sized.with_columns(
            pl.lit("rejected").alias("status"),
            pl.col("source").replace_strict(self._sector_of_source, default=None,
                                            return_dtype=pl.String).alias("sector"),
            pl.lit(None, pl.String).alias("split"), pl.lit(None, pl.String).alias("language"),
            pl.col("raw").str.json_path_match("$.data[0]").str.slice(0, 200).alias("opening"))

    def _filtered_rejects(self, query: RowQuery) -> pl.LazyFrame:
        rejects = self._listed_rejects().filter(
            _equal("sector", query.sector), _equal("stage", query.stage),
            _equal("reason", query.reason), _between("exchanges", query.min_exchanges, query.max_exchanges),
            _between("chars", query.min_chars, query.max_chars))
        if query.language is not None:
            rejects = rejects.filter(pl.col("reason") == f"lang_{query.language}")
        if query.search:
            rejects = rejects.filter(pl.col("raw").str.contains(_any_case(query.search)))
        return rejects

    # ---- one dialogue -------------------------------------------------------------------

    def dialogue(self, source: str, line: int) -> dict | None:
        """The row from `source` line `line`: kept (its turns) or rejected (reason, detail, raw
        line, and its turns where the raw line is a dialogue); for a duplicate, the kept row it
        duplicates. None if no row has that source and line."""
        kept = self._kept_row(source, line)
        if kept is not None:
            return kept
        row = _row_at(self._rejects(), source, line) if self.reject_files else None
        if row is None:
            return None
        turns = _turns_of_raw(row["raw"])
        answer = {"status": "rejected", **row, "sector": self._sector_of_source.get(source),
                  "key": f"{source}:{line}", "turns": turns, "duplicate_of": None,
                  "exchanges": None if turns is None else len(turns) // 2}
        if row.get("duplicate_of_source") is not None:
            answer["duplicate_of"] = self._kept_row(row["duplicate_of_source"], row["duplicate_of_line"])
        return answer

    def _kept_row(self, source: str, line: int) -> dict | None:
        row = _row_at(self._kept(), source, line) if self.kept_files else None
        if row is None:
            return None
        turns = [{"role": message["role"], "content": message["content"]} for message in row.pop("messages")]
        return {**row, "turns": turns}

    def _sizes_of_rejects(self) -> pl.DataFrame:
        """Exchanges and characters of each rejected dialogue, read once from its raw line
        (rejects are few; the raw text is not kept). Lines that are no dialogue have none."""
        sources, lines, exchanges, chars = [], [], [], []
        for path in self.reject_files:
            for batch in pq.ParquetFile(path).iter_batches(columns=["source", "line", "raw"]):
                for source, line, raw in zip(*(batch.column(i).to_pylist() for i in range(3))):
                    turns = _turns_of_raw(raw)
                    sources.append(source)
                    lines.append(line)
                    exchanges.append(None if turns is None else len(turns) // 2)
                    chars.append(None if turns is None else sum(len(t["content"]) for t in turns))
        return pl.DataFrame({"source": sources, "line": lines, "exchanges": exchanges, "chars": chars},
                            schema={"source": pl.String, "line": pl.Int64, "exchanges": pl.Int64,
                                    "chars": pl.Int64})

    def _sectors_of_sources(self) -> dict[str, str]:
        """source file -> sector, from the kept rows, else the release registry, else the
        generated files' names."""
        known = {item.name: item.sector for item in ALL_FILES if item.sector}
        if self.kept_files:
            pairs = self._kept().select("source", "sector").unique().collect()
            known.update({source: sector for source, sector in pairs.iter_rows() if sector})
        if self.reject_files:
            prefix = GENERATED_PATTERN.split("{")[0]
            for source in self._rejects().select("source").unique().collect()["source"]:
                if source and source.startswith(prefix) and source not in known:
                    known[source] = source[len(prefix):].split("-")[0].removesuffix(".jsonl")
        return known


def _read_report(out: Path) -> dict:
    report = out / "report.json"
    if not report.is_file():
        raise FolderError(f"{out} has no report.json: give a folder written by `ultrachat prepare` "
                          "(its OUT)")
    try:
        loaded = json.loads(report.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise FolderError(f"{report} is not a prepare report ({error}): prepare the folder again") from None
    counts = isinstance(loaded, dict) and all(isinstance(loaded.get(key), int) for key in ("lines", "kept"))
    if not counts or not isinstance(loaded.get("rejected", {}), dict):
        raise FolderError(f"{report} is not a prepare report (an object with lines, kept and rejected "
                          "counts): prepare the folder again")
    return loaded


def _check_parquet(path: Path, columns: tuple[str, ...]) -> None:
    """One clear error for a shard or rejects file that is not what `prepare` wrote."""
    try:
        names = pq.ParquetFile(path).schema_arrow.names
    except Exception as error:  # pyarrow raises ArrowInvalid, OSError, ... for broken files
        raise FolderError(f"{path} is not a readable parquet file ({_first_line(error)}): the folder is "
                          "damaged; prepare it again") from None
    missing = [name for name in columns if name not in names]
    if missing:
        raise FolderError(f"{path} is not a file `prepare` wrote (no {', '.join(missing)} column): move "
                          "it out of the folder, or prepare it again")


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _row_at(rows: pl.LazyFrame, source: str, line: int) -> dict | None:
    found = rows.filter((pl.col("source") == source) & (pl.col("line") == line)).collect()
    return found.row(0, named=True) if found.height else None


def _equal(column: str, value) -> pl.Expr:
    return pl.lit(True) if value is None else pl.col(column) == value


def _between(value: str | pl.Expr, low: int | None, high: int | None) -> pl.Expr:
    value = pl.col(value) if isinstance(value, str) else value
    condition = pl.lit(True)
    if low is not None:
        condition &= value >= low
    if high is not None:
        condition &= value <= high
    return condition


def _any_case(text: str) -> str:
    """A literal search, in any case (the text is never read as a pattern)."""
    return "(?i)" + re.escape(text)


def _turns_of_raw(raw: str | None) -> list[dict] | None:
    """The turns of a rejected line, where it is a release dialogue (user, then assistant)."""
    try:
        data = json.loads(raw or "").get("data")
    except (ValueError, AttributeError, RecursionError):  # RecursionError: a json_too_deep line
        return None
    if not isinstance(data, list):
        return None
    return [{"role": "user" if index % 2 == 0 else "assistant",
             "content": turn if isinstance(turn, str) else json.dumps(turn)}
            for index, turn in enumerate(data)]
