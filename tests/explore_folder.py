"""A prepared folder for the explorer's tests: a synthesized release with every kind of reject
(every reason the reader knows among them), and planted dialogues whose turns hold markup that
must stay text."""

import json
from pathlib import Path

from ultrachat_dataset.prepare import local_inputs, prepare
from ultrachat_dataset.release.synth import synthesize

PLANTED_SCRIPT = "<script>window.__pwned = 1</script>"
PLANTED_IMAGE = '<img src="x" onerror="window.__pwned = 2">'
PLANTED_CODE = "<script>window.__pwned = 3</script>"
PLANTED = {"id": "planted", "data": [
    f"How do I show {PLANTED_SCRIPT} and {PLANTED_IMAGE} as text on a page?",
    f"Escape it. For example:\n```html\n{PLANTED_CODE}\n```\nThe browser then shows the tag.",
]}
# A line that is not JSON, holding markup: a reject whose raw line the page shows.
PLANTED_BAD_LINE = '{"id": "broken", "data": ["<img src=x onerror=\\"window.__pwned = 4\\">"'
# Read rejects that `synth` does not make: an id that is a list, and a cut last line.
PLANTED_BAD_ID = '{"id": ["a", "list"], "data": ["Why is the sky blue?", "Rayleigh scattering."]}'
PLANTED_CUT_LAST_LINE = '{"id": "cut", "data": ["How deep is the harbour?", "About twel'
WORLD_FILE = "ultrachat_release_230407.json"
READ_DEFECTS = ("invalid_json", "blank_line", "invalid_utf8", "lone_surrogate", "json_too_deep",
                "not_an_object", "data_not_list", "turn_not_string")


def prepared_folder(root: Path) -> Path:
    data = root / "release"
    synthesize(data, dialogues=400, seed=11, length_scale=0.3,
               defect_rates={"duplicate": 0.05, "near_duplicate": 0.05, "non_english": 0.05,
                             "self_disclaimer": 0.03, **dict.fromkeys(READ_DEFECTS, 0.01)})
    with open(data / WORLD_FILE, "a", encoding="utf-8") as world:
        world.write(json.dumps(PLANTED) + "\n" + PLANTED_BAD_LINE + "\n" + PLANTED_BAD_ID + "\n"
                    + PLANTED_CUT_LAST_LINE)  # no newline: the file's truncated last line
    out = root / "prepared"
    prepare(local_inputs("all", data), out, progress=False)
    return out
