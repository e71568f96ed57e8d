"""Upload a prepared folder to the Hugging Face Hub as a dataset repo."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import HfApi

from ..errors import ConfigError
from .folder import MARKER, read_marker

# Files of the folder that are not the dataset: a shard still being written.
PUSH_IGNORE = ["**/.*.partial"]


def push_folder(folder: str | Path, repo_id: str, *, private: bool = False, revision: str | None = None,
                dry_run: bool = False, token: str | None = None) -> list[str]:
    """Upload a prepared folder as a dataset repo with `huggingface_hub` (endpoint, token and
    offline mode from the usual HF_* variables). Returns the files uploaded (or that would be)."""
    folder = Path(folder)
    if read_marker(folder) is None or not (folder / "README.md").is_file():
        raise ConfigError(f"{folder} is not a prepared dataset folder (no {MARKER} and README.md): "
                          "run `ultrachat prepare ... --out FOLDER` first")
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                   if p.is_file() and not any(p.match(pattern) for pattern in PUSH_IGNORE))
    if dry_run:
        return files
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="dataset",
                      revision=revision, ignore_patterns=PUSH_IGNORE,
                      commit_message="Upload UltraChat prepared by ultrachat-dataset")
    return files
