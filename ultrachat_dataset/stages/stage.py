"""What a stage is: one declared thing that takes a block of rows and returns one `StageResult`.

A stage declares, as class attributes, its `name`, its reason codes and repairs with their
meanings, and its `Options` (a dataclass whose fields carry their help, made with `option`). The
pipeline is a list of stages (`registry.STAGES`): the reason registry, the card's filter list,
the `prepare` flags, the builder's config fields and the per-stage counts and seconds of
`report.json` all come from that list. A stage works in vectors over the whole block; where it
calls a library per text (ftfy, langdetect) it counts the calls in `StageResult.calls`.

A stage that must see the blocks in release order (dedup: the first occurrence survives) sets
`ordered`: its `keys` run on the worker with the other stages, its `decide` on the main thread,
block after block. Only the last stage may be ordered.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from ..rejects import rejects_from_rows


def option(default: Any, help: str, *, flag: str | None = None, choices=None, words: dict | None = None,
           name: str | None = None, metavar: str | None = None):
    """A field of a stage's options. `help` is what `prepare --help` and the builder say of it;
    `name` the option's name in the CLI and builder when it is not the field's; `flag` an older
    CLI spelling kept working; `choices` the values allowed (a list option: each item); `words`
    maps a CLI word to a value (`{"any": None}`); `metavar` what the CLI's help calls the value."""
    metadata = {"help": help, "flag": flag, "choices": choices, "words": words or {}, "name": name,
                "metavar": metavar}
    return field(default=default, metadata=metadata)


@dataclass
class StageResult:
    """What a stage made of a block: the rows it keeps (repaired, in order), which input rows
    they are, the rows it rejects with reason and detail (`rejects.REJECT_SCHEMA`, the rows as
    they came), the repairs it made to kept rows, the flags it gave them, and its calls to per-text
    libraries."""

    rows: pa.Table
    kept: np.ndarray
    rejects: pa.Table
    repairs: Counter = field(default_factory=Counter)
    calls: Counter = field(default_factory=Counter)
    flagged: Counter = field(default_factory=Counter)  # flag -> kept rows given it (`turns.add_flag`)


class Stage:
    """One step of the pipeline. Subclasses set the class attributes and `apply` (or, when
    `ordered`, `keys` and `decide`)."""

    name: ClassVar[str]
    summary: ClassVar[str]  # what it does, in a line (the card's table of stages)
    reasons: ClassVar[dict[str, str]] = {}  # code -> meaning, in the order rules are tried
    repairs: ClassVar[dict[str, str]] = {}
    flags: ClassVar[dict[str, str]] = {}  # what it marks in kept rows' `flags` column
    Options: ClassVar[type]
    ordered: ClassVar[bool] = False

    def __init__(self, options=None):
        self.options = options if options is not None else self.Options()

    @property
    def enabled(self) -> bool:
        """A stage with nothing to do under its options is left out of the run."""
        return True

    def apply(self, rows: pa.Table) -> StageResult:
        if self.ordered:
            return self.decide(rows, self.keys(rows))
        raise NotImplementedError

    def keys(self, rows: pa.Table) -> Any:
        """An ordered stage: what `decide` needs of a block, computed on a worker (pure)."""
        raise NotImplementedError

    def decide(self, rows: pa.Table, keys: Any) -> StageResult:
        """An ordered stage: the block's verdict, in release order, on the main thread."""
        raise NotImplementedError

    def rejected(self, rows: pa.Table, kept: np.ndarray, reasons, details=None) -> pa.Table:
        """Rejects for the rows not `kept`: `reasons` and `details` one a rejected row (or one
        reason for all)."""
        return rejects_from_rows(rows.filter(pa.array(~kept)), self.name, reasons, details)


@dataclass(frozen=True)
class OptionField:
    """One option as the CLI and the builder offer it."""

    name: str  # flat name: the builder's config field and, with dashes, the CLI flag
    stage: str
    field: str  # the field of the stage's `Options`
    type: Any
    default: Any
    help: str
    flag: str | None
    choices: Any
    words: dict
    metavar: str | None


def option_fields(stages) -> list[OptionField]:
    """Every stage's options, by their flat names (unique across stages: checked)."""
    found: dict[str, OptionField] = {}
    for stage in stages:
        hints = _type_hints(stage.Options)
        for item in dataclasses.fields(stage.Options):
            meta = item.metadata
            if "help" not in meta:
                raise TypeError(f"{stage.__name__}.Options.{item.name} has no help: declare it with option()")
            name = meta["name"] or item.name
            if name in found:
                raise TypeError(f"option {name!r} is declared twice: by {found[name].stage!r} "
                                f"and {stage.name!r}")
            default = item.default if item.default is not dataclasses.MISSING else item.default_factory()
            found[name] = OptionField(name, stage.name, item.name, hints[item.name], default, meta["help"],
                                      meta["flag"], meta["choices"], meta["words"], meta["metavar"])
    return list(found.values())


def _type_hints(options: type) -> dict:
    import typing
    return typing.get_type_hints(options)


def options_from_flat(stages, values: dict) -> dict[str, Any]:
    """stage name -> its Options, from flat option values (missing ones take their default).
    Unknown names raise TypeError, as a function given an unknown keyword does."""
    fields = {item.name: item for item in option_fields(stages)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise TypeError(f"unknown option {', '.join(unknown)}: choose from {', '.join(fields)}")
    per_stage: dict[str, dict] = {stage.name: {} for stage in stages}
    for name, value in values.items():
        per_stage[fields[name].stage][fields[name].field] = value
    return {stage.name: stage.Options(**per_stage[stage.name]) for stage in stages}


def flat_options(options: dict[str, Any], stages) -> dict[str, Any]:
    """The flat option values of per-stage options (what the report and the card show)."""
    values = {}
    for item in option_fields(stages):
        values[item.name] = getattr(options[item.stage], item.field)
    return values
