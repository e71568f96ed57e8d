"""The `ultrachat` command. A user error is one line on stderr and exit code 2, never a traceback.

Each command imports what it runs when it runs: `ultrachat --help` and every `COMMAND --help`
import this module and `names` alone (not polars, pyarrow, numba or `datasets`), but for
`prepare`, whose flags are the stages' declared options (`_add_option_flags`): they are added
when `prepare` is the command given.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from pathlib import Path

from .errors import ConfigError, UltraChatError
from .names import CONFIGS, DEFECTS, FILE_DEFECTS, FORMATS, SECTORS, SOURCES

# Optional packages, and what a user runs to have them.
EXTRAS = {"transformers": "chat", "tokenizers": "chat", "openai": "generate", "matplotlib": "plot"}


def cmd_synth(args: argparse.Namespace) -> None:
    from .release.synth import SynthOptions, parse_defect_rates, synthesize
    options = SynthOptions(dialogues=args.dialogues, seed=args.seed,
                           defect_rates=parse_defect_rates(args.defects),
                           file_defects=tuple(filter(None, args.file_defects.split(","))),
                           layout=args.layout, gzip=args.gzip, length_scale=args.length_scale)
    manifest = synthesize(args.out, options)
    lines = sum(entry["lines"] for entry in manifest["files"].values())
    print(f"wrote {args.dialogues} dialogues ({lines} lines) in {len(manifest['files'])} files "
          f"to {args.out}; defects per file in {Path(args.out) / 'manifest.json'}")


def cmd_demo(args: argparse.Namespace) -> None:
    import tempfile

    import pyarrow.parquet as pq

    from .dataset.folder import check_replaceable
    from .prepare.pipeline import prepare
    from .prepare.summary import print_dialogue, print_report
    from .release.sources import local_inputs, sample_dir
    data_dir = args.data_dir or sample_dir()
    if args.out:
        _say_replaced(check_replaceable(args.out, args.config, args.overwrite, written_by="demo"))
    with tempfile.TemporaryDirectory(prefix="ultrachat-demo-") as scratch:
        out = args.out or Path(scratch)
        report = prepare(local_inputs(args.config, data_dir), out, args.config,
                         progress=not args.quiet, overwrite=args.overwrite, written_by="demo")
        print_report(report, f"{data_dir} (config {args.config!r})")
        first = next(iter(sorted((out / "data").glob("*/train-*.parquet"))), None)
        if first is not None and pq.ParquetFile(first).metadata.num_rows:
            print_dialogue(pq.ParquetFile(first).read_row_group(0).slice(0, 1).to_pylist()[0])
        if args.out:
            print(f"\nwritten to {out}: README.md (dataset card), data/, rejects/, report.json\n"
                  f"load it with datasets.load_dataset({str(out.resolve())!r}, {args.config!r})")


def cmd_prepare(args: argparse.Namespace) -> None:
    from .dataset.folder import check_replaceable
    from .prepare.pipeline import PrepareOptions, prepare
    from .prepare.summary import print_report
    from .release.download import release_inputs
    options = PrepareOptions(**{item.name: getattr(args, item.name) for item in PrepareOptions.fields()})
    _say_replaced(check_replaceable(args.out, args.config, args.overwrite))  # before any download
    inputs = release_inputs(args.config, args.data_dir, _download_options(args))
    report = prepare(inputs, args.out, args.config, options, progress=not args.quiet,
                     workers=args.workers, overwrite=args.overwrite)
    print_report(report, f"{args.data_dir} (config {args.config!r})")
    print(f"\nwritten to {args.out}: README.md (dataset card), data/<sector>/<split>-*.parquet, "
          f"rejects/{args.config}.parquet, report.json\nload it with "
          f"datasets.load_dataset({str(args.out.resolve())!r}, {args.config!r})")


def _say_replaced(replaced: str | None) -> None:
    if replaced:
        print(f"replacing {replaced} once this run is complete", file=sys.stderr)


def cmd_download(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from .release.download import default_release_dir, download
    folder = args.data_dir or default_release_dir()
    options = replace(_download_options(args), check_present=True)
    print(download(args.config, folder, options).summary(folder))


def _download_options(args: argparse.Namespace):
    from .release.download import DownloadOptions
    hashes = dict(item.split("=", 1) for item in args.sha256 or [])
    values = {"source": args.source, "known_hashes": hashes, "progress": not args.quiet}
    if args.mirror:
        values["mirror"] = args.mirror
    if args.offline:
        values["offline"] = True
    return DownloadOptions(**values)




def cmd_convert(args: argparse.Namespace) -> None:
    from .tokenizer import load_tokenizer
    from .training.convert import convert_path
    tokenizer = load_tokenizer(args.tokenizer) if args.tokenizer else None
    written = convert_path(args.source, args.target, args.to, args.system, tokenizer,
                           args.max_tokens, config=args.config, split=args.split,
                           overwrite=args.overwrite, progress=not args.quiet)
    print(f"wrote {len(written)} file(s) as {args.to}: " + ", ".join(str(p) for p in written[:5])
          + (" ..." if len(written) > 5 else ""))


def cmd_stats(args: argparse.Namespace) -> None:
    from .insight.tables import stats_text
    print(stats_text(args.paths, args.config, args.sample, args.seed, args.tokenizer,
                     progress=not args.quiet))
    if args.plot:
        from .insight.plots import plot_folder
        for index, path in enumerate(args.paths):  # one folder of plots a path: before and after
            where = args.plot if len(args.paths) == 1 else args.plot / f"{index + 1}-{path.resolve().name}"
            for written in plot_folder(path, args.config, where):
                print(f"wrote {written}")


def cmd_push(args: argparse.Namespace) -> None:
    from .dataset.push import push_folder

    args.folder = args.folder or args.folder_option or Path("ultrachat")
    files = push_folder(args.folder, args.repo, private=args.private, revision=args.revision,
                        dry_run=args.dry_run)
    size = sum((args.folder / name).stat().st_size for name in files)
    verb = "would upload" if args.dry_run else "uploaded"
    print(f"{verb} {len(files)} files ({size / 1e6:.1f} MB) from {args.folder} to dataset repo "
          f"{args.repo}:")
    for name in files:
        print(f"  {name}")


def cmd_generate(args: argparse.Namespace) -> int:
    from .generate import GenerateOptions, generate

    index, _, count = args.shard.partition("/")
    if not (index.isdigit() and count.isdigit()):
        raise ConfigError(f"--shard {args.shard}: give i/n, e.g. 0/4")
    options = GenerateOptions(
        sector=args.sector, endpoint=args.endpoint, model=args.model, user_model=args.user_model,
        out=args.out, dialogues=args.dialogues, seed=args.seed, concurrency=args.concurrency,
        language=args.language, shard=(int(index), int(count)), prompts=args.prompts,
        entities=args.entities, passages=args.passages,
        api_key=args.api_key or os.environ.get("OPENAI_API_KEY"), timeout=args.timeout,
        max_retries=args.max_retries, temperature=args.temperature, max_tokens=args.max_tokens,
        price_prompt=args.price_prompt, price_completion=args.price_completion, until=args.until)
    summary = generate(options, progress=not args.quiet)
    usage = summary["this_run"]
    unknown = usage["requests_without_usage"]
    tokens = (f"{usage['prompt_tokens']:,} prompt + {usage['completion_tokens']:,} completion tokens"
              + (f" counted, {unknown} of the replies carried no token counts (usage unknown)"
                 if unknown else ""))
    print(f"{summary['dialogues']} {args.sector} dialogues in {args.out} (dropped: "
          f"{summary['dropped'] or 'none'}); this run: {usage['requests']} requests, {tokens}, "
          f"asked again: {usage['retried'] or 'none'}")
    cost = summary["cost"]
    if cost["this_run"] is not None:
        print(f"cost at the prices given: {cost['this_run']:.4f} this run, "
              f"{cost['per_dialogue']:.6f} a dialogue")
    elif unknown and (args.price_prompt is not None or args.price_completion is not None):
        print("cost: unknown (replies without token counts)")
    if args.until == "openers":
        if summary["openers"] < args.dialogues:
            print(f"ultrachat generate: error: {summary['openers']} of {args.dialogues} openers made "
                  f"(requests given up: {summary['opener_requests_given_up'] or 'none'}); a rerun asks "
                  "again for what failed", file=sys.stderr)
            return 1
        return 0
    print(f"prepare it: ultrachat prepare {args.sector} --data-dir {args.out} --out PREPARED"
          + (f" --languages {summary['language_code']}" if args.language != "en" else ""))
    if summary["dialogues"] < summary["asked"]:
        print(f"ultrachat generate: error: {summary['dialogues']} of {summary['asked']} dialogues made: "
              f"{_shortfall(summary)}", file=sys.stderr)
        return 1
    return 0


def _shortfall(summary: dict) -> str:
    """Why a generate run made fewer dialogues than asked."""
    reasons = []
    if summary["openers"] < summary["options"]["dialogues"]:
        reasons.append(f"only {summary['openers']} openers could be made (opener requests given up: "
                       f"{summary['opener_requests_given_up'] or 'none'}; a rerun asks them again)")
    if summary["dropped"]:
        reasons.append(f"dialogues dropped: {summary['dropped']}")
    if summary["dropped_examples"]:
        reasons.append("for example " + "; ".join(f"{reason}: {detail[:160]!r}"
                                                  for reason, detail in summary["dropped_examples"].items()))
    return "; ".join(reasons) or "see the summary in OUT/work"


def cmd_explore(args: argparse.Namespace) -> None:
    from .explore import serve

    serve(args.folder, host=args.host, port=args.port)


def _add_option_flags(parser: argparse.ArgumentParser) -> None:
    """A flag for every option the stages declare (`PrepareOptions.fields()`): `--name-with-dashes`
    (`--no-name` for an option on by default), its help from the field, its older spelling kept."""
    from .prepare.pipeline import PrepareOptions
    for item in PrepareOptions.fields():
        flag = "--" + item.name.replace("_", "-")
        names = [flag, *([item.flag] if item.flag else [])]
        kind = _value_kind(item.type)
        if kind is bool and item.default:
            parser.add_argument(f"--no-{flag[2:]}", dest=item.name, action="store_false", default=True,
                                help=f"turn off: {item.help} (on by default)")
        elif kind is bool:
            parser.add_argument(*names, dest=item.name, action="store_true", help=item.help)
        elif kind is tuple:
            parser.add_argument(*names, dest=item.name, type=_list_value(item.words), default=item.default,
                                metavar="LIST", help=f"{item.help} (default: {_shown(item)})")
        else:
            metavar = item.metavar or ("{" + ",".join(item.choices) + "}" if item.choices else
                                       {int: "N", float: "F"}.get(kind, "VALUE"))
            parser.add_argument(*names, dest=item.name, type=kind, default=item.default,
                                choices=item.choices, metavar=metavar, help=item.help)


def _value_kind(annotation) -> type:
    """bool, int, float, str or tuple (a list option), from `int | None`, `tuple[str, ...]`, ..."""
    import typing
    kinds = [kind for kind in typing.get_args(annotation) if kind is not type(None)]
    if typing.get_origin(annotation) is tuple or not kinds:
        kinds = [annotation]
    return typing.get_origin(kinds[0]) or kinds[0]


def _shown(item) -> str:
    """A list option's default as it is typed: `exact,near`, `none`, or a word (`en`)."""
    word = next((word for word, value in item.words.items() if value == item.default), None)
    return word or ",".join(item.default) or "none"


def _list_value(words: dict):
    """A comma-separated list option: 'none' is the empty list; `words` are single values
    ('any': None)."""
    def parse(value: str):
        if value.strip() in words:
            return words[value.strip()]
        return () if value.strip() == "none" else tuple(n.strip() for n in value.split(",") if n.strip())
    return parse



class _Help(argparse.HelpFormatter):
    """Each option's help ends with its default, where it has one worth saying."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS, "") and "default" not in text:
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are one line too, pointing at this command's --help."""

    def __init__(self, *args, add_later=None, **kwargs):
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)
        self._add_later = add_later  # arguments that cost imports: added when this command runs

    def _complete(self) -> None:
        if self._add_later is not None:
            add, self._add_later = self._add_later, None
            add(self)

    def parse_known_args(self, args=None, namespace=None):
        self._complete()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self._complete()
        return super().format_help()

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _unknown_options(parser: argparse.ArgumentParser, extras: list[str]) -> str:
    """'unrecognized arguments: --data_dir (did you mean --data-dir?)'."""
    known = [option for action in parser._actions for option in action.option_strings]
    said = []
    for extra in extras:
        close = difflib.get_close_matches(extra.split("=")[0], known, n=1, cutoff=0.6)
        said.append(f"{extra} (did you mean {close[0]}?)" if close else extra)
    return "unrecognized arguments: " + " ".join(said)


def _add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", default="all", choices=CONFIGS, metavar="CONFIG",
                        help=f"{', '.join(CONFIGS)}")
    _add_quiet(parser)


def _add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bars (a log that is not a terminal never gets them)")


def _add_download_options(parser: argparse.ArgumentParser, default_source: str) -> None:
    parser.add_argument("--source", choices=SOURCES, default=default_source,
                        help="where the release files come from: a local folder, the Tsinghua links, "
                             "the Hugging Face Hub, or auto (the files already in the folder, else "
                             "Tsinghua, then the Hub for all)")
    parser.add_argument("--mirror", metavar="BASE_URL",
                        help="fetch each file as BASE_URL/<release file name> (or ULTRACHAT_MIRROR)")
    parser.add_argument("--offline", action="store_true",
                        help="use only files already there, checked against the lock (also HF_HUB_OFFLINE=1)")
    parser.add_argument("--sha256", action="append", metavar="NAME=HEX",
                        help="a known sha256 of a release file (repeatable)")


def _add_data_dir(parser: argparse.ArgumentParser, text: str, *old_names: str) -> None:
    """The folder of release files: `--data-dir` in every command (old names kept as aliases)."""
    parser.add_argument("--data-dir", *old_names, dest="data_dir", type=Path, metavar="DIR", help=text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ultrachat", description="UltraChat as clean, verified training data: "
                     "download, prepare, convert, inspect and grow it.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=_Parser)
    parser.commands = {}  # name -> its parser, for errors said by the command they were given to

    def command(name: str, summary: str, description: str, run, add_later=None) -> argparse.ArgumentParser:
        made = commands.add_parser(name, help=summary, description=description, add_later=add_later)
        parser.commands[name] = made
        made.set_defaults(run=run)
        return made

    synth = command("synth", "write a synthetic corpus in the release format",
                    "Write a corpus in the exact release format under the release file names, "
                    "deterministic per seed.", cmd_synth)
    synth.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder to write")
    synth.add_argument("--dialogues", type=int, default=1000, help="how many dialogues")
    synth.add_argument("--seed", type=int, default=0, help="the same seed writes the same bytes")
    synth.add_argument("--defects", default="", metavar="KIND=RATE,...",
                       help=f"defect rates, or all=RATE shared by every kind; kinds: {', '.join(DEFECTS)}")
    synth.add_argument("--file-defects", default="", metavar="KIND,...",
                       help=f"whole-file defects: {', '.join(FILE_DEFECTS)}")
    synth.add_argument("--layout", choices=("tsinghua", "hub"), default="tsinghua",
                       help="four sector files (tsinghua) or ten unlabelled shards (hub)")
    synth.add_argument("--gzip", action="store_true", help="gzip the files (names end in .gz)")
    synth.add_argument("--length-scale", type=float, default=1.0,
                       help="scale utterance lengths (1.0: about 300 tokens an utterance)")

    demo = command("demo", "prepare the bundled sample and show the result",
                   "Run the whole pipeline on the bundled sample (or --data-dir) with no network; "
                   "print what was kept, rejected and repaired, and why, and show one dialogue.", cmd_demo)
    _add_config_argument(demo)
    _add_data_dir(demo, "release files to read instead of the bundled sample")
    demo.add_argument("--out", type=Path, metavar="DIR", help="keep the prepared folder here "
                      "(default: a temporary folder); the demo replaces only a folder it wrote")
    demo.add_argument("--overwrite", action="store_true", help="replace --out even if the demo did "
                      "not write it (a folder of yours, or one `prepare` wrote)")

    prep = command("prepare", "read, validate, clean, filter and deduplicate",
                   "Run the pipeline over the release files (local, or downloaded first): writes a "
                   "dataset folder OUT with README.md (the card), data/<sector>/<split>-*.parquet, "
                   "rejects/CONFIG.parquet (every rejected line with its reason) and report.json. "
                   "Dedup runs across the whole input: a sector config of an `all` folder is not "
                   "`prepare SECTOR`.", cmd_prepare, add_later=_add_option_flags)
    _add_config_argument(prep)
    _add_download_options(prep, default_source="local")
    _add_data_dir(prep, "the release files (source local), or where downloads go "
                  "(default: ~/.cache/ultrachat/release)")
    prep.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder: built "
                      "aside and swapped in when complete")
    prep.add_argument("--overwrite", action="store_true", help="replace --out even if it is not a "
                      "folder `prepare` wrote, or holds another config")
    prep.add_argument("--workers", type=int, help="worker threads for the per-row stages "
                      "(default: one a core, up to 4)")

    fetch = command("download", "download and verify the release files",
                    "Fetch the release files of a config, resuming interrupted transfers, and verify "
                    "size and sha256 (the Hub's, or ultrachat.lock.json's, recorded on first "
                    "download). Files already in the folder are checked against the lock.", cmd_download)
    _add_config_argument(fetch)
    _add_data_dir(fetch, "folder for the files (default: ~/.cache/ultrachat/release)", "--dest")
    _add_download_options(fetch, default_source="auto")

    conv = command("convert", "convert files or a prepared folder between chat formats",
                   "Convert parquet or JSON Lines files (or every shard of a prepared folder) to "
                   "OpenAI/TRL messages, ShareGPT (LLaMA-Factory, axolotl), raw UltraChat, or a "
                   "tokenizer's chat template.", cmd_convert)
    conv.add_argument("source", type=Path, metavar="SOURCE", help="a .parquet/.jsonl file or a "
                      "prepared folder")
    conv.add_argument("target", type=Path, metavar="TARGET", help="a .parquet/.jsonl file (from a "
                      "folder: one config's split), or a folder for a folder (with a card; ShareGPT "
                      "also with LLaMA-Factory's dataset_info.json)")
    conv.add_argument("--to", required=True, choices=(*FORMATS, "template"),
                      help="messages (OpenAI/TRL), sharegpt, raw (UltraChat's own), or template (a "
                           "tokenizer's chat template with assistant masks; the chat extra)")
    conv.add_argument("--system", help="a system prompt for every dialogue")
    conv.add_argument("--tokenizer", metavar="FOLDER_OR_NAME",
                      help="with --to template: a tokenizer folder, or a Hub name")
    conv.add_argument("--max-tokens", type=int, metavar="N", help="with --to template: split longer "
                      "dialogues at exchange boundaries")
    conv.add_argument("--config", choices=CONFIGS, help="a folder into a file: the config to write "
                      "(default: the folder's)")
    conv.add_argument("--split", choices=("train", "test"), default="train",
                      help="a folder into a file: the split to write")
    conv.add_argument("--overwrite", action="store_true", help="replace the target folder even if "
                      "it is not one ultrachat wrote")
    _add_quiet(conv)

    stats = command("stats", "the paper's Table 4 statistics, per sector",
                    "Dialogues, exchanges, dialogue and utterance length, MTLD and topic diversity, "
                    "per sector and overall, next to the paper's row. Give a release folder (before "
                    "cleaning) and a prepared folder (after) to compare them.", cmd_stats)
    stats.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="prepared folder(s), "
                       "release folder(s) or .parquet/.jsonl files")
    stats.add_argument("--config", default="all", choices=CONFIGS, help="the config to measure")
    stats.add_argument("--sample", type=int, default=2000,
                       help="utterances for MTLD and dialogues for topic diversity")
    stats.add_argument("--seed", type=int, default=0, help="seed of the samples")
    stats.add_argument("--tokenizer", metavar="FOLDER_OR_NAME",
                       help="count tokens with this tokenizer (default: whitespace words)")
    stats.add_argument("--plot", type=Path, metavar="DIR", help="also write PNG plots here (the plot "
                       "extra); with several paths, one folder each")
    _add_quiet(stats)

    gen = command("generate", "grow a sector the paper's way on an OpenAI-compatible endpoint",
                  "Make new dialogues the way the paper made UltraChat, on any OpenAI-compatible "
                  "endpoint (vLLM, llama.cpp, Ollama, TGI, OpenAI): openers per sector, then a user "
                  "model and an assistant model in turn. Writes OUT/generated_<sector>.jsonl in the "
                  "release format (for `prepare --data-dir OUT`); a rerun continues where a run "
                  "stopped. Needs the generate extra.", cmd_generate)
    gen.add_argument("sector", choices=list(SECTORS), metavar="SECTOR", help=", ".join(SECTORS))
    gen.add_argument("--endpoint", required=True, help="base URL, e.g. http://localhost:8000/v1")
    gen.add_argument("--model", required=True, help="the assistant model (and the user's, by default)")
    gen.add_argument("--user-model", help="a different model to play the user")
    gen.add_argument("--dialogues", type=int, default=100, help="dialogues to have in OUT in all")
    gen.add_argument("--out", type=Path, required=True, metavar="DIR",
                     help="output folder (its work/ keeps what a rerun continues from)")
    gen.add_argument("--seed", type=int, default=0, help="seed of topics, personas and rounds")
    gen.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    gen.add_argument("--language", default="en", help="en, zh, fr, de, es or ja")
    gen.add_argument("--shard", default="0/1", help="i/n: make every n-th dialogue from the i-th")
    gen.add_argument("--prompts", type=Path, metavar="DIR", help="a folder of prompt files replacing "
                     "ours by name")
    gen.add_argument("--entities", type=Path, metavar="FILE", help="world: named entities, one a line")
    gen.add_argument("--passages", type=Path, metavar="FILE", help="assistance: texts, one a line, or "
                     "JSON Lines with a text field")
    gen.add_argument("--api-key", help="default: $OPENAI_API_KEY (none needed for most local servers)")
    gen.add_argument("--timeout", type=float, default=120.0, help="seconds a request may take")
    gen.add_argument("--max-retries", type=int, default=6, help="retries of a request on 429, 5xx, "
                     "timeouts and cut connections")
    gen.add_argument("--temperature", type=float, default=0.8, help="sampling temperature")
    gen.add_argument("--max-tokens", type=int, metavar="N", help="cap on a reply's tokens "
                     "(default: the server's)")
    gen.add_argument("--price-prompt", type=float, metavar="PRICE", help="what a million prompt "
                     "tokens cost (any currency): the summary then gives the run's cost")
    gen.add_argument("--price-completion", type=float, metavar="PRICE",
                     help="what a million completion tokens cost")
    gen.add_argument("--until", choices=["openers", "dialogues"], default="dialogues",
                     help="openers: stop after the first turns (run once, then share OUT/work)")
    _add_quiet(gen)

    explore = command("explore", "look at a prepared folder in the browser (read-only, local)",
                      "Serve a local, read-only page over a prepared folder: counts, dialogues, "
                      "rejects with their reasons, and each duplicate beside what it duplicates. "
                      "Ctrl-C stops it.", cmd_explore)
    explore.add_argument("folder", type=Path, metavar="FOLDER", help="a folder written by "
                         "`ultrachat prepare`")
    explore.add_argument("--port", type=int, default=8765, help="port to listen on (0: any free one)")
    explore.add_argument("--host", default="127.0.0.1",
                         help="address to listen on (127.0.0.1: this machine only)")

    push = command("push", "upload a prepared folder to the Hugging Face Hub",
                   "Upload a folder written by `prepare` as a dataset repo. Endpoint and token come "
                   "from HF_ENDPOINT and HF_TOKEN (or your `hf auth login`); the token is never "
                   "printed.", cmd_push)
    push.add_argument("folder", type=Path, nargs="?", metavar="FOLDER",
                      help="the prepared folder (default: ./ultrachat)")
    push.add_argument("--folder", dest="folder_option", type=Path, help=argparse.SUPPRESS)  # old name
    push.add_argument("--repo", required=True, metavar="ORG/NAME", help="the dataset repo")
    push.add_argument("--private", action="store_true", help="create the repo private")
    push.add_argument("--revision", help="branch to push to (default: main)")
    push.add_argument("--dry-run", action="store_true", help="list what would be uploaded")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:  # a misspelled option: said by the command it was given to, with a guess
        command = parser.commands[args.command]
        command.error(_unknown_options(command, extras))
    try:
        code = args.run(args)
    except UltraChatError as error:
        print(f"ultrachat {args.command}: error: {error}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as error:
        missing = (error.name or "").split(".")[0]
        if missing not in EXTRAS:
            raise
        print(f"ultrachat {args.command}: error: needs {missing}: install the `{EXTRAS[missing]}` extra "
              f"(uv run --extra {EXTRAS[missing]} ultrachat {args.command} ...)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ultrachat: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `ultrachat ... | head`: the reader left; the work itself is done
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
