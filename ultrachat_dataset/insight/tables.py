"""The statistics shown: `statistics.json` in a prepared folder (what its card's table is made
from, and what the explorer reads), the Markdown table next to the paper's row, and the text
`ultrachat stats` prints."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from .load import stats_of
from .stats import PAPER, TOKEN_SAMPLE_FACTOR, SectorStats

STATISTICS_FILE = "statistics.json"


def write_statistics(out: Path, rows: list[SectorStats], sample: int) -> Path:
    """The folder's statistics as data (the card renders them; the explorer reads them)."""
    path = Path(out) / STATISTICS_FILE
    path.write_text(json.dumps({"sample": sample, "token_sample": sample * TOKEN_SAMPLE_FACTOR,
                                "sectors": [asdict(row) for row in rows], "paper": PAPER}, indent=2) + "\n")
    return path


def read_statistics(out: Path) -> list[SectorStats] | None:
    """The statistics `write_statistics` wrote, or None where the folder has none (an older
    folder, or one changed by hand: the explorer then shows none)."""
    try:
        stored = json.loads((Path(out) / STATISTICS_FILE).read_text(encoding="utf-8"))
        return [SectorStats(**row) for row in stored["sectors"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def format_table(rows: list[tuple[str, SectorStats]], include_paper: bool = True) -> str:
    """A Markdown table: one row a (label, stats), and the paper's row."""
    header = ("| data | sector | dialogues | avg exchanges | avg dialogue tokens | "
              "avg utterance tokens | MTLD | topic diversity |\n|---|---|---:|---:|---:|---:|---:|---:|")
    lines = [header]
    for label, s in rows:
        lines.append(f"| {label} | {s.name} | {s.dialogues:,} | {s.avg_exchanges:.2f} | "
                     f"{s.avg_dialogue_tokens:.1f} | {s.avg_utterance_tokens:.1f} | {s.mtld:.1f} | "
                     f"{s.topic_diversity:.3f} |")
    if include_paper:
        p = PAPER
        lines.append(f"| paper (Table 4) | all | {p['dialogues']:,} | {p['avg_exchanges']} | "
                     f"{p['avg_dialogue_tokens']} | {p['avg_utterance_tokens']} | {p['mtld']} | "
                     f"{p['topic_diversity']} |")
    return "\n".join(lines)


def stats_text(paths: list, config: str, sample: int, seed: int, tokenizer_name: str | None,
               progress: bool = False) -> str:
    """The Table 4 measures of each path (a release folder, a prepared folder or a file) as text,
    with a note on how they were measured. `tokenizer_name`: count tokens with it (a folder or a
    Hub name; the `chat` extra), else whitespace."""
    from ..tokenizer import load_tokenizer
    tokenizer = load_tokenizer(tokenizer_name) if tokenizer_name else None
    rows = [(str(path), sector_stats) for path in paths
            for sector_stats in stats_of(path, config, sample, seed, tokenizer, progress)]
    return (f"{format_table(rows)}\n\ntokens: {tokenizer_name or 'whitespace'}, lengths averaged over "
            f"up to {TOKEN_SAMPLE_FACTOR * sample:,} sampled dialogues a row (all, where fewer; counts "
            f"exact); MTLD over up to {sample:,} sampled utterances; topic diversity: TF-IDF (hashed "
            f"uni+bigrams) over up to {sample:,} sampled "
            "dialogues; coherence (ChatGPT-rated) not computable offline")
