// Agents and numbers: list, add, edit, remove. One page builder for both (the same shape:
// an id, a few fields, PUT replaces, DELETE removes); the API refuses a removal, or a change
// of what a campaign copied (an agent's prompt, a number's E.164), while a campaign that may
// still call uses the record, and its answer names the campaign: it is shown as is.
import { all, api, ApiError } from "./api.js";
import { announce, field, fill, h, mount, problemText, showFieldErrors } from "./ui.js";

const AGENTS = {
  title: "Agents",
  path: "/agents",
  idKey: "agent_id",
  noun: "agent",
  intro: "The voice agents your campaigns call with. A prompt's {{variables}} are filled from each contact's columns.",
  fields: [
    { key: "name", label: "Name", required: true },
    { key: "prompt", label: "Prompt", kind: "textarea", hint: "Variables in double braces, e.g. Hi {{customer_name}}." },
  ],
  columns: [
    { label: "Name", value: (r) => r.name },
    { label: "Variables", value: (r) => (r.variables.length ? r.variables.join(", ") : "none") },
  ],
};

const NUMBERS = {
  title: "Numbers",
  path: "/numbers",
  idKey: "number_id",
  noun: "number",
  intro: "The account's phone numbers: a campaign calls from one, and numbers marked for caller ID may be shown in rotation. A rate prices each call (analytics).",
  fields: [
    { key: "e164", label: "Number (E.164)", required: true, hint: "Country code first, like +15550100000.", inputmode: "tel" },
    { key: "label", label: "Label" },
    { key: "caller_id", label: "May be used as caller ID", kind: "checkbox" },
    { key: "rate_per_minute", label: "Rate per minute", hint: "Optional; a decimal like 0.0135.", inputmode: "decimal", optional: true },
    { key: "currency", label: "Currency", hint: "ISO 4217 code, like USD; required with a rate.", optional: true, upper: true },
  ],
  columns: [
    { label: "Number", value: (r) => r.e164 },
    { label: "Label", value: (r) => r.label || "none" },
    { label: "Caller ID", value: (r) => (r.caller_id ? "Yes" : "No") },
    { label: "Rate", value: (r) => (r.rate_per_minute != null ? `${r.rate_per_minute} ${r.currency}/min` : "none") },
  ],
};

export function agentsPage() { return resourcePage(AGENTS); }
export function numbersPage() { return resourcePage(NUMBERS); }

async function resourcePage(spec) {
  const list = h("div", { id: `${spec.noun}-list` }, h("p", {}, "Loading…"));
  const msg = h("p", { class: "error", role: "alert", id: `${spec.noun}s-msg` });
  const editor = h("div", { id: `${spec.noun}-editor` });
  const ctx = { spec, msg, editor, reload: null };
  ctx.reload = async () => fill(list, table(ctx, await all(spec.path)));
  mount(
    h("div", { class: "page-head" }, h("h1", {}, spec.title)),
    h("p", { class: "muted" }, spec.intro),
    msg,
    h("section", { class: "card", "aria-labelledby": `${spec.noun}s-h` }, h("h2", { id: `${spec.noun}s-h` }, `The account's ${spec.noun}s`), list),
    editor,
    form(ctx, null),
  );
  await ctx.reload();
  return null;
}

function table(ctx, items) {
  const { spec } = ctx;
  if (!items.length) return h("p", {}, `No ${spec.noun} yet: add one below.`);
  return h("div", { class: "table-wrap" }, h("table", { id: `${spec.noun}s-table` },
    h("caption", { class: "visually-hidden" }, spec.title),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Id"),
      spec.columns.map((c) => h("th", { scope: "col" }, c.label)), h("th", { scope: "col" }, "Actions"))),
    h("tbody", {}, items.map((r) => h("tr", { dataset: { id: r[spec.idKey] } },
      h("th", { scope: "row" }, r[spec.idKey]),
      spec.columns.map((c) => h("td", {}, c.value(r))),
      h("td", {}, actions(ctx, r)))))));
}

function actions(ctx, record) {
  const { spec, msg } = ctx;
  const id = record[spec.idKey];
  const cell = h("div", { class: "buttons" });
  const edit = h("button", { type: "button", "aria-label": `Edit ${id}`, onclick: () => {
    fill(ctx.editor, form(ctx, record));
    ctx.editor.querySelector("input, textarea").focus();
  } }, "Edit");
  const remove = h("button", { type: "button", class: "danger", "aria-label": `Remove ${id}`, onclick: () => {
    fill(cell, h("span", {}, `Remove ${id}? `),
      h("button", { type: "button", class: "danger", onclick: async () => {
        msg.textContent = "";
        try {
          await api(`${spec.path}/${encodeURIComponent(id)}`, { method: "DELETE" });
          announce(`${spec.noun} ${id} removed.`);
          await ctx.reload();
        } catch (e) {
          msg.textContent = `Not removed: ${e instanceof ApiError ? problemText(e.problem) : e.message}`;
          fill(cell, edit, remove);
        }
      } }, "Yes, remove"),
      h("button", { type: "button", onclick: () => fill(cell, edit, remove) }, "Keep"));
    cell.querySelector("button").focus();
  } }, "Remove");
  fill(cell, edit, remove);
  return cell;
}

function input(spec, f, record) {
  const id = `${spec.noun}-${record ? "edit" : "add"}-${f.key}`;
  const value = record ? record[f.key] : undefined;
  if (f.kind === "checkbox") return h("input", { type: "checkbox", id, checked: record ? Boolean(value) : true });
  if (f.kind === "textarea") return h("textarea", { id, rows: "4", value: value ?? "" });
  return h("input", { id, value: value ?? "", autocomplete: "off", inputmode: f.inputmode, required: f.required });
}

function bodyOf(spec, inputs) {
  const body = {};
  for (const f of spec.fields) {
    const el = inputs[f.key];
    if (f.kind === "checkbox") { body[f.key] = el.checked; continue; }
    let v = el.value.trim();
    if (f.upper) v = v.toUpperCase();
    if (f.optional && v === "") continue;
    body[f.key] = v;
  }
  return body;
}

/** The add form (record null) or the edit form of one record; the API's errors land by field. */
function form(ctx, record) {
  const { spec } = ctx;
  const editing = record !== null;
  const inputs = {};
  const rows = [];
  if (!editing) {
    inputs.id = h("input", { id: `${spec.noun}-add-id`, autocomplete: "off", required: true });
    rows.push(field("Id", inputs.id, { field: spec.idKey, hint: "Lower-case letters, digits, . _ -" }));
  }
  for (const f of spec.fields) {
    inputs[f.key] = input(spec, f, record);
    if (f.kind === "checkbox") {
      inputs[f.key].dataset.field = f.key;
      rows.push(h("label", { class: "block" }, inputs[f.key], ` ${f.label}`));
    } else {
      rows.push(field(f.label, inputs[f.key], { field: f.key, hint: f.hint }));
    }
  }
  const out = h("div", { class: "form-msg", role: "status" });
  const headId = `${spec.noun}-${editing ? "edit" : "add"}-h`;
  const el = h("form", { class: "card", "aria-labelledby": headId, onsubmit: async (ev) => {
    ev.preventDefault();
    const body = bodyOf(spec, inputs);
    const id = editing ? record[spec.idKey] : inputs.id.value.trim();
    if (!editing) body[spec.idKey] = id;
    try {
      await api(editing ? `${spec.path}/${encodeURIComponent(id)}` : spec.path,
        { method: editing ? "PUT" : "POST", body });
      announce(`${spec.noun} ${id} ${editing ? "saved" : "added"}.`);
      if (editing) ctx.editor.replaceChildren();
      else { el.reset(); for (const c of el.querySelectorAll("input[type=checkbox]")) c.checked = true; }
      out.replaceChildren();
      await ctx.reload();
    } catch (e) {
      showFieldErrors(el, e instanceof ApiError ? e.problem : { detail: e.message }, out);
    }
  } },
  h("h2", { id: headId }, editing ? `Edit ${spec.noun} ${record[spec.idKey]}` : `Add ${spec.noun === "agent" ? "an" : "a"} ${spec.noun}`),
  rows,
  h("div", { class: "buttons" },
    h("button", { type: "submit", class: "primary" }, editing ? "Save" : `Add ${spec.noun}`),
    editing ? h("button", { type: "button", onclick: () => ctx.editor.replaceChildren() }, "Cancel") : null),
  out);
  return el;
}
