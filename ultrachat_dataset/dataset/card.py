"""The script-free dataset folder: parquet shards (written by the pipeline) and the dataset card.

The card's YAML holds `configs:` (one a sector, and `all` as default when the folder holds the
whole release) and `dataset_info:` from the real features and split sizes, so that
`datasets.load_dataset("<folder>", "writing")` works with no script, offline too. YAML is built
with `huggingface_hub.DatasetCardData` and `datasets`' own metadata classes; the body is rendered
from `cards/template.md`.
"""

from __future__ import annotations

import json
from importlib import metadata, resources
from pathlib import Path

import datasets
import pyarrow.parquet as pq
from datasets.info import DatasetInfo, DatasetInfosDict
from datasets.splits import SplitDict, SplitInfo
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard, DatasetCardData

from ..insight.load import compute_folder
from ..insight.stats import STATS_SAMPLE, TOKEN_SAMPLE_FACTOR, StatsCollector
from ..insight.tables import format_table, read_statistics, write_statistics
from ..layout import CONFIG_DESCRIPTIONS, SPLITS, data_files, dataset_features, folder_configs, shard_files
from ..rejects import Report, by_count
from ..release.sources import ALL_FILES
from ..stages.registry import DECLARED, FLAGS, REPAIR_KINDS, describe_reason


def split_sizes(out_dir: Path, folders: list[str]) -> dict[str, tuple[int, int, int]]:
    """split -> (examples, uncompressed bytes, file bytes) over the folders' shards."""
    sizes = {}
    for split in SPLITS:
        files = shard_files(out_dir, folders, (split,))
        metas = [pq.ParquetFile(p).metadata for p in files]
        sizes[split] = (sum(m.num_rows for m in metas),
                        sum(m.row_group(i).total_byte_size for m in metas for i in range(m.num_row_groups)),
                        sum(p.stat().st_size for p in files))
    return sizes


def card_template_path() -> Path:
    """`cards/template.md`: inside the installed package, or at the root of a source checkout."""
    packaged = Path(str(resources.files("ultrachat_dataset"))) / "cards" / "template.md"
    checkout = Path(__file__).resolve().parents[2] / "cards" / "template.md"
    return packaged if packaged.is_file() else checkout


def write_card(out_dir: str | Path, report: Report, repo_id: str = "ultrachat",
               progress: bool = False, statistics: StatsCollector | None = None) -> Path:
    """The dataset card of a prepared folder. `statistics`: gathered while the rows of the
    folder's default config were written (else they are computed by reading the folder)."""
    out = Path(out_dir)
    card_data = DatasetCardData(
        pretty_name="UltraChat (cleaned and deduplicated)", license="mit", language=["en"],
        task_categories=["text-generation"], tags=["chat", "sft", "multi-turn", "synthetic"],
        size_categories=[_size_category(report.totals().kept)])
    config_rows, default = describe_configs(out, dataset_features(), card_data)
    configs = folder_configs(out)
    if statistics is not None and list(statistics.sectors) == configs[default]:
        measured = statistics.results()
    else:  # not gathered, or gathered over other folders than the default config reads
        measured = compute_folder(out, default, sample=STATS_SAMPLE, progress=progress)
    write_statistics(out, measured, STATS_SAMPLE)  # the card's table is made from the file
    statistics_table = format_table([("this dataset", row) for row in read_statistics(out)])
    card = DatasetCard.from_template(card_data, template_path=str(card_template_path()),
                                     stats_table=statistics_table, stats_sample=STATS_SAMPLE,
                                     token_sample=STATS_SAMPLE * TOKEN_SAMPLE_FACTOR,
                                     **_body_variables(report, config_rows, repo_id, default))
    path = out / "README.md"
    card.save(path)
    return path


def describe_configs(out: Path, features: datasets.Features,
                     card_data: DatasetCardData) -> tuple[list[dict], str]:
    """Put `configs:` and `dataset_info:` of a folder in the prepared layout into `card_data`;
    returns one row a config (name, default, train, test, description) and the default."""
    configs = folder_configs(out)
    default = "all" if "all" in configs else next(iter(configs))
    infos, config_rows = {}, []
    for name, folders in configs.items():
        sizes = split_sizes(out, folders)
        splits = SplitDict()
        for split, (examples, num_bytes, _) in sizes.items():
            splits.add(SplitInfo(name=split, num_bytes=num_bytes, num_examples=examples))
        infos[name] = DatasetInfo(features=features, splits=splits,
                                  download_size=sum(s[2] for s in sizes.values()),
                                  dataset_size=sum(s[1] for s in sizes.values()))
        config_rows.append({"name": name, "default": name == default, "train": sizes["train"][0],
                            "test": sizes["test"][0], "description": CONFIG_DESCRIPTIONS[name]})
    MetadataConfigs({name: {"data_files": [{"split": split, "path": data_files(folders, split)}
                                           for split in SPLITS],
                            **({"default": True} if name == default else {})}
                     for name, folders in configs.items()}).to_dataset_card_data(card_data)
    DatasetInfosDict(infos).to_dataset_card_data(card_data)
    return config_rows, default


def _body_variables(report: Report, config_rows: list[dict], repo_id: str, default: str) -> dict:
    totals = report.totals()
    sectors = {f.name: f.sector or "none (Hub copy)" for f in ALL_FILES}
    return {
        "library_version": metadata.version("ultrachat-dataset"),
        "repo_id": repo_id,
        "example_config": "writing" if any(r["name"] == "writing" for r in config_rows) else default,
        "config_rows": config_rows,
        "test_percent": f"{100 * report.options.get('test_fraction', 0.01):g}",
        "source_rows": [{"name": name, "sector": sectors.get(name, "?"), "lines": f.lines,
                         "kept": f.kept} for name, f in sorted(report.files.items())],
        "lines_read": totals.lines, "kept": totals.kept,
        "rejected_total": sum(totals.rejected.values()),
        "stage_rows": [{"name": name, **counts.as_dict(), "repaired": sum(counts.repaired.values()),
                        "what": STAGE_SUMMARIES.get(name, "")} for name, counts in report.stages.items()],
        "reject_rows": [{"reason": r, "count": n, "meaning": describe_reason(r)}
                        for r, n in by_count(totals.rejected)],
        "repair_rows": [{"reason": r, "count": n, "meaning": REPAIR_KINDS.get(r, "")}
                        for r, n in by_count(totals.repaired)],
        "flag_rows": [{"reason": r, "count": n, "meaning": FLAGS.get(r, "")}
                      for r, n in by_count(totals.flagged)],
        "options": json.dumps(report.options, sort_keys=True, default=str),
    }


STAGE_SUMMARIES = {stage.name: stage.summary for stage in DECLARED}


def _size_category(rows: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                         (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):
        if rows < limit:
            return label
    return "10M<n<100M"


