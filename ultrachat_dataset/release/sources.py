"""Where the UltraChat release lives: one entry per file, with its sector and where to fetch it.

No checksums or sizes are published for either host; `size` and `sha256` stay None until a lock
file records them (trust on first use) or the user supplies them.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import ConfigError, SourceError
from ..layout import SECTORS, check_config

HUB_REPO = "stingning/ultrachat"
TSINGHUA_URL = "https://cloud.tsinghua.edu.cn/f/{key}/?dl=1"
# A local copy may be compressed; the reader detects gzip by its magic bytes, not by the name.
LOCAL_SUFFIXES = ("", ".gz")


@dataclass(frozen=True)
class ReleaseFile:
    """One file of the release. `sector` is None for the Hub shards, whose rows carry no sector."""

    name: str
    origin: str  # "tsinghua" or "hub"
    sector: str | None
    url: str | None = None
    size: int | None = None
    sha256: str | None = None
    part: str = ""


TSINGHUA_FILES = (
    ReleaseFile("ultrachat_release_230407.json", "tsinghua", "world",
                TSINGHUA_URL.format(key="0a27393192ad46a5a081"), part="Part I + Part II"),
    ReleaseFile("ultrachat_material_release_230412.json", "tsinghua", "writing",
                TSINGHUA_URL.format(key="57258a87846243218a9b"), part="Part I"),
    ReleaseFile("ultrachat_material_release_230417.json", "tsinghua", "writing",
                TSINGHUA_URL.format(key="099b4dd71b82448fb7fb"), part="Part II"),
    ReleaseFile("ultrachat_existent_material_release_230420.json", "tsinghua", "assistance",
                TSINGHUA_URL.format(key="1f7abdf2d2564cb4b338"), part="Part I"),
)
HUB_FILES = tuple(ReleaseFile(f"train_{index}.jsonl", "hub", None) for index in range(10))
ALL_FILES = TSINGHUA_FILES + HUB_FILES


def release_files(config: str, origin: str) -> tuple[ReleaseFile, ...]:
    """The files a config needs from one origin. The Hub shards have no sector: only `all`."""
    check_config(config)
    if origin == "tsinghua":
        return tuple(f for f in TSINGHUA_FILES if config == "all" or f.sector == config)
    if origin == "hub":
        if config != "all":
            raise ConfigError(
                f"config {config!r} needs sector labels, which the Hub copy ({HUB_REPO}) lacks: "
                "use config 'all', or the Tsinghua files (source 'tsinghua' or 'local')"
            )
        return HUB_FILES
    raise ConfigError(f"unknown origin {origin!r}: choose 'tsinghua' or 'hub'")


@dataclass(frozen=True)
class LocalFile:
    release: ReleaseFile
    path: Path


def find_local(data_dir: str | Path, config: str) -> list[LocalFile]:
    """Local copies for a config, under their release names (optionally ending in `.gz`).

    Tsinghua files are preferred because they carry sectors; the Hub shards are used for `all`
    only when no Tsinghua file is present, so the same dialogues are never read twice.
    """
    check_config(config)
    directory = Path(data_dir)
    if not directory.is_dir():
        raise SourceError(f"data directory {directory} does not exist: pass --data-dir DIR (Python: "
                          "data_dir=DIR) holding the release files under their release names")
    for origin in ("tsinghua", "hub"):
        if origin == "hub" and config != "all":
            break
        wanted = release_files(config, origin)
        found = [LocalFile(f, path) for f in wanted if (path := _local_path(directory, f.name))]
        if found:
            missing = [f.name for f in wanted if not any(x.release == f for x in found)]
            if missing:
                complete = [sector for sector in SECTORS if config == "all" and origin == "tsinghua"
                            and all(_local_path(directory, f.name) for f in release_files(sector, origin))]
                also = (f", or prepare the sector config{'s' if len(complete) > 1 else ''} it holds "
                        f"whole: {' or '.join(repr(sector) for sector in complete)} (`ultrachat prepare "
                        f"{complete[0]} ...`)" if complete else "")
                raise SourceError(f"{directory} holds part of the {origin} release for config "
                                  f"{config!r} but lacks {', '.join(missing)}: add them, or "
                                  f"download them with `ultrachat download`{also}")
            return found
    names = ", ".join(f.name for f in release_files(config, "tsinghua"))
    if config != "all" and any(_local_path(directory, f.name) for f in HUB_FILES):
        raise SourceError(f"{directory} holds the Hub copy (train_*.jsonl), whose rows carry no "
                          f"sector: use config 'all', or get {names} for config {config!r}")
    raise SourceError(f"no release file for config {config!r} in {directory}: expected {names}"
                      + (" or the Hub shards train_0.jsonl .. train_9.jsonl" if config == "all" else ""))


def _local_path(directory: Path, name: str) -> Path | None:
    """The one local copy of a release file; two copies (plain and `.gz`) are an error, since
    one may be a cut download of the other and nothing says which to trust."""
    copies = [path for suffix in LOCAL_SUFFIXES if (path := directory / (name + suffix)).is_file()]
    if len(copies) > 1:
        raise SourceError(f"{directory} holds two copies of {name}: {' and '.join(p.name for p in copies)}; "
                          "keep the one you trust and move the other away")
    return copies[0] if copies else None


@dataclass(frozen=True)
class InputFile:
    path: Path
    source: str  # the release file name, as rows and rejects name it
    sector: str | None


GENERATED_PATTERN = "generated_{sector}*.jsonl"  # what `ultrachat generate` writes, per shard


def generated_inputs(config: str, data_dir: str | Path) -> list[InputFile]:
    """Files `ultrachat generate` wrote (`generated_<sector>[-i-of-n].jsonl`) for the config's
    sectors: release-format rows whose sector is in their name."""
    directory = Path(data_dir)
    sectors = SECTORS if check_config(config) == "all" else (config,)
    if not directory.is_dir():
        return []
    return [InputFile(path, path.name, sector) for sector in sectors
            for path in sorted(directory.glob(GENERATED_PATTERN.format(sector=sector)))
            if not path.name.endswith(".meta.jsonl")]


def local_inputs(config: str, data_dir: str | Path) -> list[InputFile]:
    """The release files in `data_dir`, then any generated ones; generated files alone will do."""
    generated = generated_inputs(config, data_dir)
    try:
        found = find_local(data_dir, config)
    except SourceError:
        if not generated:
            raise
        found = []
    return [InputFile(item.path, item.release.name, item.release.sector) for item in found] + generated


def sample_dir() -> Path:
    """The bundled sample: a few hundred dialogues per sector, gzipped, with some defects."""
    return Path(str(resources.files("ultrachat_dataset") / "sample"))
