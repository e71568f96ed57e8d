// The explorer's page: views drawn from the JSON API. Every text of the data is set with
// textContent (never innerHTML), so markup in a turn is shown, not run.
"use strict";

const view = () => document.getElementById("view");
const FILTERS = ["status", "sector", "split", "stage", "reason", "language", "min_exchanges",
                 "max_exchanges", "min_chars", "max_chars", "q"];

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null) node.setAttribute(name, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function link(text, params, base = "#/rows") {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v != null));
  return el("a", {href: `${base}?${query}`}, text);
}

async function api(path, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v != null));
  const response = await fetch(`/api/${path}?${query}`);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

let overviewCache = null;
async function overview() {
  overviewCache = overviewCache || await api("overview");
  document.getElementById("folder").textContent = overviewCache.folder;
  return overviewCache;
}

function number(value) { return Number(value).toLocaleString("en-US"); }

// ---- overview ------------------------------------------------------------------------------

async function showOverview() {
  const data = await overview();
  const rejected = Object.values(data.rejected).reduce((a, b) => a + b, 0);
  const sectors = Object.entries(data.by_sector);
  const most = Math.max(1, ...data.exchanges.map(e => e.rows));
  const mostRejects = Math.max(1, ...data.rejects_by_stage.map(r => r.rows));
  view().replaceChildren(
    (data.warnings || []).map(warning => el("p", {class: "warning"}, warning)),
    el("section", {class: "cards"},
      el("div", {class: "card", id: "count-lines"}, el("span", {class: "big"}, link(number(data.lines), {status: "all"})), "lines read"),
      el("div", {class: "card", id: "count-kept"}, el("span", {class: "big"}, link(number(data.kept), {status: "kept"})), "dialogues kept"),
      el("div", {class: "card", id: "count-rejected"}, el("span", {class: "big"}, link(number(rejected), {status: "rejected"})), "rejected")),
    el("h2", {}, "Kept, by sector and split"),
    el("table", {id: "by-sector"},
      el("tr", {}, el("th", {}, "sector"), el("th", {class: "num"}, "train"), el("th", {class: "num"}, "test")),
      sectors.map(([sector, splits]) => el("tr", {},
        el("td", {}, link(sector, {status: "kept", sector})),
        el("td", {class: "num"}, link(number(splits.train || 0), {status: "kept", sector, split: "train"})),
        el("td", {class: "num"}, link(number(splits.test || 0), {status: "kept", sector, split: "test"}))))),
    el("h2", {}, "Rejected, by stage and reason"),
    el("div", {id: "rejects"}, data.rejects_by_stage.map(r => el("div", {class: "bar"},
      link(`${r.stage} · ${r.reason}`, {status: "rejected", stage: r.stage, reason: r.reason}),
      el("span", {class: "fill", style: null, "data-width": r.rows / mostRejects}), number(r.rows)))),
    el("h2", {}, "Kept dialogues by exchanges"),
    el("div", {id: "exchanges"}, data.exchanges.map(e => el("div", {class: "bar"},
      link(`${e.exchanges} exchanges`, {status: "kept", min_exchanges: e.exchanges, max_exchanges: e.exchanges}),
      el("span", {class: "fill", "data-width": e.rows / most}), number(e.rows)))),
    el("h2", {}, "Repairs"),
    el("table", {}, Object.entries(data.repaired).map(([kind, count]) =>
      el("tr", {}, el("td", {}, kind), el("td", {class: "num"}, number(count))))),
    el("h2", {}, "Stages"),
    el("table", {id: "stages"},
      el("tr", {}, ...["stage", "in", "kept", "rejected", "seconds"].map(h => el("th", {}, h))),
      Object.entries(data.stages).map(([name, s]) => el("tr", {},
        el("td", {}, link(name, {status: "rejected", stage: name})),
        ...[s.in, s.kept, s.rejected].map(n => el("td", {class: "num"}, number(n))),
        el("td", {class: "num"}, s.seconds.toFixed(2))))),
    el("h2", {}, "Statistics (the card's table)"),
    data.statistics.length ? el("table", {id: "statistics"},
      el("tr", {}, ...["sector", "dialogues", "avg exchanges", "avg dialogue tokens", "avg utterance tokens",
                       "MTLD", "topic diversity"].map(h => el("th", {}, h))),
      data.statistics.map(s => el("tr", {}, el("td", {}, s.name),
        el("td", {class: "num"}, number(s.dialogues)),
        ...[s.avg_exchanges, s.avg_dialogue_tokens, s.avg_utterance_tokens, s.mtld, s.topic_diversity].map(
          (v, i) => el("td", {class: "num"}, v.toFixed(i === 4 ? 3 : i === 0 ? 2 : 1))))))
      : el("p", {id: "statistics"}, "(the folder has no statistics.json)"));
  // Bar widths set as properties: the page's policy allows no inline style attribute.
  for (const fill of view().querySelectorAll(".fill")) {
    fill.style.width = `${Math.max(1, 300 * Number(fill.dataset.width))}px`;
  }
}

// ---- the table -----------------------------------------------------------------------------

function select(name, value, options) {
  return el("select", {name}, options.map(([v, text]) => {
    const option = el("option", {value: v}, text);
    if (String(v) === String(value ?? "")) option.selected = true;
    return option;
  }));
}

async function showRows(params) {
  const data = await overview();
  const reasons = data.rejects_by_stage.map(r => r.reason);
  const stages = [...new Set(data.rejects_by_stage.map(r => r.stage))];
  const form = el("form", {class: "filters", id: "filters"},
    el("label", {}, "status", select("status", params.get("status") || "all",
      [["all", "kept and rejected"], ["kept", "kept"], ["rejected", "rejected"]])),
    el("label", {}, "sector", select("sector", params.get("sector"),
      [["", "any"], ...Object.keys(data.by_sector).map(s => [s, s])])),
    el("label", {}, "split", select("split", params.get("split"), [["", "any"], ["train", "train"], ["test", "test"]])),
    el("label", {}, "stage", select("stage", params.get("stage"), [["", "any"], ...stages.map(s => [s, s])])),
    el("label", {}, "reason", select("reason", params.get("reason"), [["", "any"], ...reasons.map(r => [r, r])])),
    el("label", {}, "language", el("input", {name: "language", value: params.get("language") || "", size: 6})),
    el("label", {}, "exchanges ≥", el("input", {name: "min_exchanges", type: "number", value: params.get("min_exchanges") || ""})),
    el("label", {}, "exchanges ≤", el("input", {name: "max_exchanges", type: "number", value: params.get("max_exchanges") || ""})),
    el("label", {}, "characters ≥", el("input", {name: "min_chars", type: "number", value: params.get("min_chars") || ""})),
    el("label", {}, "characters ≤", el("input", {name: "max_chars", type: "number", value: params.get("max_chars") || ""})),
    el("label", {}, "text in the turns", el("input", {name: "q", id: "search", value: params.get("q") || "", size: 24})),
    el("button", {type: "submit", id: "apply"}, "Show"));
  form.addEventListener("submit", event => {
    event.preventDefault();
    const chosen = {};
    for (const name of FILTERS) { const value = form.elements[name].value; if (value !== "") chosen[name] = value; }
    location.hash = `#/rows?${new URLSearchParams(chosen)}`;
  });
  const status = el("p", {class: "muted", id: "status"}, "Searching…");
  view().replaceChildren(form, status);
  const query = Object.fromEntries(params.entries());
  const started = performance.now();
  let page;
  try { page = await api("rows", query); } catch (error) { status.replaceChildren(el("span", {class: "error"}, error.message)); return; }
  const first = page.page * page.page_size;
  status.textContent = page.total ? `rows ${number(first + 1)}–${number(first + page.rows.length)} of ${number(page.total)}`
    + ` (${Math.round(performance.now() - started)} ms)` : "no row matches";
  const pager = el("div", {class: "pager"},
    page.page > 0 ? link("← previous", {...query, page: page.page - 1}) : null,
    first + page.rows.length < page.total ? link("next →", {...query, page: page.page + 1}) : null);
  const table = el("table", {id: "rows"},
    el("tr", {}, ["", "source", "line", "sector", "split", "exchanges", "stage · reason", "opening"].map(h => el("th", {}, h))),
    page.rows.map(row => el("tr", {class: row.status},
      el("td", {}, link(row.status === "kept" ? "open" : "open reject", {source: row.source, line: row.line}, "#/dialogue")),
      el("td", {}, row.source), el("td", {class: "num"}, row.line), el("td", {}, row.sector ?? ""),
      el("td", {}, row.split ?? ""), el("td", {class: "num"}, row.exchanges ?? ""),
      el("td", {}, row.reason ? `${row.stage} · ${row.reason}` : ""), el("td", {class: "opening"}, row.opening ?? ""))));
  view().append(pager, table);
}

// ---- one dialogue --------------------------------------------------------------------------

function turnContent(text) {
  // Fenced code (```...```) as code blocks; the rest as text. Both through textContent.
  const parts = String(text).split(/```/);
  return parts.map((part, index) => {
    if (index % 2 === 0) return part ? el("span", {}, part) : null;
    const newline = part.indexOf("\n");
    const code = newline >= 0 && /^[\w+-]*$/.test(part.slice(0, newline)) ? part.slice(newline + 1) : part;
    return el("pre", {class: "code"}, el("code", {}, code));
  });
}

function conversation(turns) {
  if (!turns) return el("p", {class: "muted"}, "(the raw line is not a dialogue)");
  return el("div", {class: "turns"}, turns.map(turn => el("div", {class: `turn ${turn.role}`},
    el("span", {class: "role"}, turn.role), turnContent(turn.content))));
}

function meta(row) {
  const shown = ["status", "key", "source", "line", "id", "sector", "split", "language", "exchanges", "stage", "reason", "detail"];
  return el("dl", {class: "meta"}, shown.filter(k => row[k] !== null && row[k] !== undefined)
    .map(k => [el("dt", {}, k), el("dd", {}, k === "exchanges" ? row[k] : String(row[k]))]));
}

function column(title, row, id) {
  return el("section", {id},
    el("h3", {}, title), meta({...row, exchanges: row.num_exchanges ?? row.exchanges}),
    conversation(row.turns),
    row.raw !== undefined ? [el("h3", {}, "Raw line"), el("pre", {class: "raw"}, row.raw ?? "")] : null);
}

async function showDialogue(params) {
  await overview();
  let row;
  try { row = await api("dialogue", {source: params.get("source"), line: params.get("line")}); }
  catch (error) { view().replaceChildren(el("p", {class: "error"}, error.message)); return; }
  const title = row.status === "kept" ? "Kept dialogue" : `Rejected: ${row.reason}`;
  const columns = [column(title, row, "this")];
  if (row.duplicate_of) columns.push(column("The kept dialogue it duplicates", row.duplicate_of, "original"));
  view().replaceChildren(el("div", {class: row.duplicate_of ? "dialogue pair" : "dialogue"}, columns));
}

// ---- routing -------------------------------------------------------------------------------

async function route() {
  const [path, query] = (location.hash.slice(1) || "/").split("?");
  const params = new URLSearchParams(query || "");
  try {
    if (path === "/rows") await showRows(params);
    else if (path === "/dialogue") await showDialogue(params);
    else await showOverview();
  } catch (error) {
    view().replaceChildren(el("p", {class: "error"}, `Could not load: ${error.message}`));
  }
  document.body.dataset.ready = location.hash || "#/";
}

window.addEventListener("hashchange", route);
route();
