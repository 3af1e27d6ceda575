// Do-not-call: the account's list (paged, searchable by number), add, import, export, remove.
// Everything goes through /v1/dnc; numbers are the account's own data, shown in full.
import { api, ApiError } from "./api.js";
import { announce, field, fill, h, mount, problemText, timeEl } from "./ui.js";

const PAGE_SIZE = 50;

export async function dncPage() {
  const state = { q: "", cursors: [null], index: 0 };
  const list = h("div", { id: "dnc-list" }, h("p", {}, "Loading…"));
  const listMsg = h("p", { class: "error", role: "alert", id: "dnc-list-msg" });

  async function load() {
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (state.q) params.set("q", state.q);
    const cursor = state.cursors[state.index];
    if (cursor) params.set("cursor", cursor);
    listMsg.textContent = "";
    let page;
    try {
      page = await api(`/dnc?${params}`);
    } catch (e) {
      listMsg.textContent = e instanceof ApiError ? problemText(e.problem) : e.message;
      return;
    }
    state.cursors[state.index + 1] = page.next_cursor;
    fill(list, listTable(page.items, state, load), pager(page, state, load));
  }

  const search = h("input", { type: "search", id: "dnc-search", inputmode: "tel", autocomplete: "off" });
  const searchForm = h("form", { class: "toolbar", role: "search", onsubmit: (ev) => {
    ev.preventDefault();
    state.q = search.value.trim();
    state.cursors = [null];
    state.index = 0;
    load();
  } },
  h("label", { for: "dnc-search" }, "Search by number"), search,
  h("button", { type: "submit" }, "Search"),
  h("span", { class: "hint" }, "The digits a number starts with, country code first (1212 finds +1 212 …)."));

  mount(
    h("div", { class: "page-head" }, h("h1", {}, "Do-not-call list"),
      h("button", { type: "button", id: "dnc-export", onclick: exportList }, "Export CSV")),
    h("p", { class: "muted" }, "Numbers on this list are never called by any campaign of this account."),
    h("section", { class: "card", "aria-labelledby": "dnc-list-h" },
      h("h2", { id: "dnc-list-h" }, "Numbers on the list"), searchForm, listMsg, list),
    addForm(load),
    importForm(load),
  );
  await load();
  return null;
}

function listTable(items, state, reload) {
  if (!items.length) return h("p", {}, state.q ? `No number starts with ${state.q}.` : "The list is empty.");
  return h("div", { class: "table-wrap" }, h("table", { id: "dnc-table" },
    h("caption", { class: "visually-hidden" }, "Do-not-call numbers"),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Number"), h("th", { scope: "col" }, "Added"), h("th", { scope: "col" }, "Actions"))),
    h("tbody", {}, items.map((item) => h("tr", { dataset: { number: item.number } },
      h("th", { scope: "row" }, item.number),
      h("td", {}, timeEl(item.added_at)),
      h("td", {}, h("button", { type: "button", class: "danger", "aria-label": `Remove ${item.number}`,
        onclick: async (ev) => {
          ev.target.disabled = true;
          try {
            await api(`/dnc/${encodeURIComponent(item.number)}`, { method: "DELETE" });
            announce(`${item.number} removed from the list.`);
          } catch (e) {
            announce(`Not removed: ${e.message}`);
          }
          await reload();
        } }, "Remove")))))));
}

function pager(page, state, reload) {
  const prev = h("button", { type: "button", disabled: state.index === 0, onclick: () => { state.index -= 1; reload(); } }, "Previous page");
  const next = h("button", { type: "button", disabled: !page.next_cursor, onclick: () => { state.index += 1; reload(); } }, "Next page");
  return h("div", { class: "toolbar" }, prev, h("span", { class: "muted" }, `Page ${state.index + 1}`), next);
}

function addForm(reload) {
  const numbers = h("textarea", { rows: "3", id: "dnc-add-numbers", autocomplete: "off" });
  const region = h("input", { id: "dnc-add-region", class: "short", value: "US", maxlength: "2", autocomplete: "off" });
  const msg = h("div", { class: "form-msg", role: "status" });
  const form = h("form", { class: "card", "aria-labelledby": "dnc-add-h", onsubmit: async (ev) => {
    ev.preventDefault();
    const list = numbers.value.split(/[\n,;]+/).map((s) => s.trim()).filter(Boolean);
    msg.replaceChildren();
    if (!list.length) { fill(msg, h("p", { class: "error" }, "Enter at least one number.")); numbers.focus(); return; }
    try {
      const out = await api("/dnc", { method: "POST", body: { numbers: list, region: region.value.trim() || "US" } });
      numbers.value = "";
      fill(msg, h("p", { class: "ok" }, `Added ${out.items.length} number${out.items.length === 1 ? "" : "s"}.`));
      await reload();
    } catch (e) {
      const problem = e instanceof ApiError ? e.problem : { detail: e.message };
      fill(msg, h("p", { class: "error" }, problemText(problem)));
    }
  } },
  h("h2", { id: "dnc-add-h" }, "Add numbers"),
  field("Numbers (one a line, or separated by commas)", numbers),
  field("Region of numbers written without +country code", region, { hint: "Two letters, e.g. US, GB." }),
  h("button", { type: "submit", class: "primary" }, "Add to the list"), msg);
  return form;
}

function importForm(reload) {
  const file = h("input", { type: "file", id: "dnc-import-file", accept: ".csv,.txt,text/csv,text/plain" });
  const region = h("input", { id: "dnc-import-region", class: "short", value: "US", maxlength: "2", autocomplete: "off" });
  const result = h("div", { id: "dnc-import-result", role: "status" });
  const submit = h("button", { type: "submit", class: "primary" }, "Import");
  const form = h("form", { class: "card", "aria-labelledby": "dnc-import-h", onsubmit: async (ev) => {
    ev.preventDefault();
    if (!file.files.length) { fill(result, h("p", { class: "error" }, "Choose a file first.")); file.focus(); return; }
    const body = new FormData();
    body.append("file", file.files[0]);
    submit.disabled = true;
    fill(result, h("p", {}, h("progress", { "aria-label": "Importing" }), ` Importing ${file.files[0].name}…`));
    try {
      const region_ = encodeURIComponent(region.value.trim() || "US");
      const out = await api(`/dnc/import?region=${region_}`, { method: "POST", body });
      fill(result, importReport(out));
      await reload();
    } catch (e) {
      fill(result, h("p", { class: "error" }, e instanceof ApiError ? problemText(e.problem) : e.message));
    } finally {
      submit.disabled = false;
    }
  } },
  h("h2", { id: "dnc-import-h" }, "Import a file"),
  h("p", { class: "muted" }, "One number a line; a CSV counts by its first column. A header, blank lines and # comments are skipped."),
  field("File to import", file),
  field("Region of numbers written without +country code", region),
  submit, result);
  return form;
}

function importReport(out) {
  return h("div", { "data-testid": "dnc-import-report" },
    h("dl", { class: "facts" },
      h("dt", {}, "Lines read"), h("dd", { "data-testid": "import-lines" }, out.lines),
      h("dt", {}, "Added"), h("dd", { "data-testid": "import-accepted" }, out.accepted),
      h("dt", {}, "Skipped"), h("dd", {}, out.skipped),
      h("dt", {}, "Rejected"), h("dd", { "data-testid": "import-rejected" }, out.rejected)),
    out.rejected_lines.length ? h("div", { class: "table-wrap" }, h("table", { id: "dnc-rejected" },
      h("caption", {}, "Rejected lines"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Line"), h("th", { scope: "col" }, "Text"), h("th", { scope: "col" }, "Reason"))),
      h("tbody", {}, out.rejected_lines.map((r) => h("tr", { class: "rejected" },
        h("td", { "data-testid": "rejected-line" }, r.line), h("td", {}, r.text), h("td", {}, r.reason)))))) : null,
    out.rejected > out.rejected_lines.length
      ? h("p", { class: "muted" }, `The first ${out.rejected_lines.length} rejected lines are shown.`) : null);
}

async function exportList() {
  const res = await api("/dnc/export.csv", { raw: true });
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const name = (/filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") || "") || [])[1] || "dnc.csv";
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
  announce(`Exported the list as ${name}.`);
}
