"""The prompt texts, in editable files: the package's `prompts/` folder, or a folder of the
user's (`--prompts DIR`) whose files replace the package's of the same name."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import ConfigError
from .seeds import LANGUAGES

PROMPT_FILES = ("subtopics", "questions", "related_questions", "entity_meta_questions",
                "entity_questions", "writing_instructions", "writing_expand",
                "assistance_instructions", "user_turn", "follow_up", "assistant_system")


class Prompts:
    def __init__(self, folder: str | Path | None = None, language: str = "en"):
        if language not in LANGUAGES:
            raise ConfigError(f"unknown language {language!r}: choose from {', '.join(LANGUAGES)}")
        name = LANGUAGES[language][0]
        self.language_note = "" if language == "en" else f" Write in {name}."
        packaged = Path(str(resources.files("ultrachat_dataset.generate") / "prompts"))
        self.texts = {}
        for stem in PROMPT_FILES:
            own = Path(folder) / f"{stem}.txt" if folder else None
            chosen = own if own and own.is_file() else packaged / f"{stem}.txt"
            self.texts[stem] = chosen.read_text(encoding="utf-8").strip()
        self.follow_up = dict(line.split(": ", 1) for line in self.texts["follow_up"].splitlines() if line)

    def render(self, stem: str, **values) -> str:
        try:
            return self.texts[stem].format(language_note=self.language_note, **values)
        except KeyError as missing:
            raise ConfigError(f"prompt {stem}.txt names {missing}, which is not one of its fields "
                              f"({', '.join(values)}, language_note)") from None


def lines_of(reply: str, most: int) -> list[str]:
    """The items of a one-per-line reply: numbering, bullets and blank lines stripped."""
    items = []
    for line in reply.splitlines():
        item = line.strip().lstrip("-*•").strip()
        item = item.split(". ", 1)[1] if item[:1].isdigit() and ". " in item[:5] else item
        item = item.split(") ", 1)[1] if item[:1].isdigit() and ") " in item[:5] else item
        if item:
            items.append(item)
    return items[:most]
