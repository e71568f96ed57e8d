"""Pictures a user would rather look at than read: exchanges per dialogue, utterance lengths per
role and sector, and what the pipeline rejected by reason. PNG files, matplotlib (Agg: no screen)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

from ..rejects import by_count
from ..turns import TurnLayout
from .load import load_dialogues


def plot_all(table: pa.Table, out_dir: str | Path, rejected: dict[str, int] | None = None) -> list[Path]:
    """Write the PNGs for `table` (sector, messages) and, if given, the reject counts."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [plot_exchanges(table, out / "exchanges.png"),
             plot_utterance_lengths(table, out / "utterance_lengths.png")]
    if rejected:
        paths.append(plot_rejects(rejected, out / "rejects.png"))
    return paths


def _sectors(table: pa.Table) -> tuple[list[str], np.ndarray]:
    sectors = pc.fill_null(table.column("sector"), "unlabelled").to_numpy(zero_copy_only=False)
    return sorted(set(sectors.tolist())), sectors


def plot_exchanges(table: pa.Table, path: Path) -> Path:
    names, sectors = _sectors(table)
    exchanges = pc.list_value_length(table.column("messages")).to_numpy(zero_copy_only=False) // 2
    bins = np.arange(0.5, max(int(exchanges.max(initial=1)), 1) + 1.5)
    figure, axis = plt.subplots(figsize=(7, 4))
    axis.hist([exchanges[sectors == name] for name in names], bins=bins, label=names, stacked=True)
    axis.set(xlabel="exchanges (user + assistant) per dialogue", ylabel="dialogues",
             title="Exchanges per dialogue, by sector")
    axis.legend()
    return _save(figure, path)


def plot_utterance_lengths(table: pa.Table, path: Path) -> Path:
    names, sectors = _sectors(table)
    layout = TurnLayout.of(table.column("messages"))
    roles = pc.struct_field(layout.turns, "role").to_numpy(zero_copy_only=False)
    lengths = pl.from_arrow(pc.struct_field(layout.turns, "content")).str.count_matches(r"\S+").to_numpy()
    figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=False)
    for axis, role in zip(axes, ("user", "assistant")):
        data = [lengths[(roles == role) & (sectors[layout.owner] == name)] for name in names]
        axis.boxplot(data, tick_labels=names, showfliers=False)
        axis.set(title=f"{role} utterances", ylabel="whitespace tokens")
    figure.suptitle("Utterance length by role and sector")
    return _save(figure, path)


def plot_rejects(rejected: dict[str, int], path: Path) -> Path:
    reasons = by_count(rejected)
    figure, axis = plt.subplots(figsize=(7, 0.35 * len(reasons) + 1.5))
    axis.barh([r for r, _ in reasons][::-1], [n for _, n in reasons][::-1])
    axis.set(xlabel="lines", title="What the pipeline rejected, by reason")
    return _save(figure, path)


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_folder(path, config: str, out_dir) -> list:
    """The plots of a folder (release or prepared), with rejects by reason where it has a report."""
    report = Path(path) / "report.json"
    rejected = json.loads(report.read_text())["rejected"] if report.is_file() else None
    return plot_all(load_dialogues(path, config), out_dir, rejected)
