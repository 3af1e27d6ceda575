// Create campaign in five steps, or edit a draft in the same steps (#/edit/<id>/<step>).
// Everything entered is kept in localStorage (per account, per draft being edited) until
// the campaign is created or saved, so leaving the wizard loses nothing.
import { all, api, ApiError } from "./api.js";
import { route, session } from "./session.js";
import { PHONE, RESERVED, analyseHeader, contactsOf, parseCsv, tableColumns } from "./contacts.js";
import { announce, field, fill, h, mount, newId, ruleText, showFieldErrors, when } from "./ui.js";

const AGENT_COLUMN = "agent_id"; // a contact's own agent of the account (issue 23.3)
const STEPS = ["Agent and source number", "Number list", "Variable mapping", "Advanced rules", "Summary"];
const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DAY_LABELS = { mon: "Monday", tue: "Tuesday", wed: "Wednesday", thu: "Thursday", fri: "Friday", sat: "Saturday", sun: "Sunday" };
const STRATEGIES = [["rolling", "Rolling: cycle through them"], ["clamp", "Clamp: in order, then keep the last"], ["custom", "Custom: one per attempt slot"]];
const ALT_STRATEGIES = [["rolling", "Rolling: cycle through the alternates"], ["clamp", "Clamp: in order, then keep the last"], ["custom", "Custom: each once, then the primary"]];
const PRESETS = [["us_tcpa", "US TCPA (8am-9pm local; stricter in FL, OK, MD)"], ["fr_2022_1313", "France decree 2022-1313 (weekdays 10-13 and 14-20, no holidays)"]];

function storageKey(editing) {
  const base = `campaignflow.wizard.${session.account.account_id}`;
  return editing ? `${base}.edit.${editing}` : base;
}

function browserZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch { return "UTC"; }
}

function fresh() {
  return {
    agent_id: "", source_number_id: "", source: "manual", csvName: "",
    columns: [], alternates: 0, altColumns: [], rows: [{ [PHONE]: "" }],
    csvRejects: [], mapping: {},
    rules: {
      name: "", description: "", campaign_id: "", campaign_id_edited: false,
      max_retries: "0", retry_delay_minutes: "", calling_days: ["mon", "tue", "wed", "thu", "fri"],
      windows: [{ start: "09:00", end: "19:00" }], timezone: browserZone(),
      concurrent_calls: "5", inbound_free_slots: "0",
      priority: "5", ends_at: "", max_callbacks: "1",
      voicemail_action: "hang_up", voicemail_message: "", voicemail_on: "last",
      caller_numbers: [], caller_strategy: "rolling", alternate_strategy: "rolling",
      blackout_dates: [], holidays_country: "", holidays_subdivision: "",
      attempt_limits: [], compliance: [],
      // the definition's top-level `predial` (issue 23): blank URL, no check
      predial_url: "", predial_timeout_ms: "2000", predial_on_error: "skip",
    },
    idempotency: null,
    editing: null, // the draft's campaign id when editing one
    extra_rules: {}, // a draft's rules this form has no field for, sent back unchanged
  };
}

export function loadDraft(editing = null) {
  try {
    const raw = localStorage.getItem(storageKey(editing));
    if (raw) return { ...fresh(), ...JSON.parse(raw), rules: { ...fresh().rules, ...JSON.parse(raw).rules } };
  } catch { /* a broken draft starts over */ }
  return fresh();
}

function save(state) { localStorage.setItem(storageKey(state.editing), JSON.stringify(state)); }

const FORM_RULES = new Set(["max_retries", "retry_delay_minutes", "calling_days", "calling_window", "timezone",
  "concurrent_calls", "inbound_free_slots", "caller_ids", "alternate_strategy", "blackout_dates", "holidays",
  "priority", "ends_at", "max_callbacks", "voicemail",
  "attempt_limits", "compliance"]);

const text = (v) => (v === undefined || v === null ? "" : String(v));

/** An instant as a datetime-local input's value (the browser's zone), "" for none. */
function localInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const local = new Date(d.getTime() - d.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 16);
}

/** The wizard's state for a draft, from its create body (GET /campaigns/{id}/draft). */
export function fromBody(body) {
  const d = body.definition;
  const r = d.rules || {};
  const state = fresh();
  const header = [];
  for (const row of body.contacts) for (const k of Object.keys(row)) if (!header.includes(k)) header.push(k);
  Object.assign(state, analyseHeader(header.includes(PHONE) ? header : [PHONE, ...header]));
  Object.assign(state, {
    editing: d.campaign_id, agent_id: d.agent_id, source_number_id: d.source_number_id,
    rows: body.contacts.length ? body.contacts.map((row) => ({ ...row })) : [{ [PHONE]: "" }],
    mapping: { ...(d.variable_mapping || {}) }, source: "draft",
    extra_rules: Object.fromEntries(Object.entries(r).filter(([k]) => !FORM_RULES.has(k))),
  });
  const windows = Array.isArray(r.calling_window) ? r.calling_window : r.calling_window ? [r.calling_window] : state.rules.windows;
  Object.assign(state.rules, {
    name: d.name, description: d.description || "", campaign_id: d.campaign_id, campaign_id_edited: true,
    max_retries: text(r.max_retries ?? 0), retry_delay_minutes: text(r.retry_delay_minutes),
    calling_days: r.calling_days || state.rules.calling_days, windows: windows.map((w) => ({ start: w.start, end: w.end })),
    timezone: r.timezone, concurrent_calls: text(r.concurrent_calls), inbound_free_slots: text(r.inbound_free_slots ?? 0),
    priority: text(r.priority ?? 5), ends_at: localInput(r.ends_at), max_callbacks: text(r.max_callbacks ?? 1),
    voicemail_action: (r.voicemail && r.voicemail.action) || "hang_up", voicemail_message: (r.voicemail && r.voicemail.message) || "",
    voicemail_on: (r.voicemail && r.voicemail.on) || "last",
    caller_numbers: (r.caller_ids && r.caller_ids.numbers) || [], caller_strategy: (r.caller_ids && r.caller_ids.strategy) || "rolling",
    alternate_strategy: r.alternate_strategy || "rolling", blackout_dates: r.blackout_dates || [],
    holidays_country: (r.holidays && r.holidays.country) || "", holidays_subdivision: (r.holidays && r.holidays.subdivision) || "",
    attempt_limits: (r.attempt_limits || []).map((l) => ({ ...l, max_calls: text(l.max_calls), period_hours: text(l.period_hours) })),
    compliance: r.compliance || [],
    predial_url: (d.predial && d.predial.url) || "", predial_timeout_ms: text((d.predial && d.predial.timeout_ms) ?? 2000),
    predial_on_error: (d.predial && d.predial.on_error) || "skip",
  });
  return state;
}

function slug(name) {
  return name.toLowerCase().normalize("NFKD").replace(/[^\w\s.-]/g, "").trim().replace(/[\s_]+/g, "-").replace(/[^a-z0-9.-]/g, "").replace(/^[^a-z0-9]+/, "").slice(0, 64);
}

function int(v) { const n = Number(v); return v === "" || v === null || Number.isNaN(n) ? v : n; }

/** The API definition from what the wizard holds; blanks left out so the API names them. */
export function definition(state) {
  const r = state.rules;
  const retries = int(r.max_retries);
  const rules = {
    ...(state.extra_rules || {}),
    max_retries: retries,
    calling_days: r.calling_days,
    calling_window: r.windows.length === 1 ? r.windows[0] : r.windows,
    timezone: r.timezone,
    concurrent_calls: int(r.concurrent_calls),
    inbound_free_slots: int(r.inbound_free_slots === "" ? "0" : r.inbound_free_slots),
  };
  if (r.retry_delay_minutes !== "") rules.retry_delay_minutes = int(r.retry_delay_minutes);
  if (r.priority !== "" && r.priority !== undefined) rules.priority = int(r.priority);
  if (r.max_callbacks !== "" && r.max_callbacks !== undefined) rules.max_callbacks = int(r.max_callbacks);
  if (r.voicemail_action === "leave_message") {
    rules.voicemail = { action: "leave_message", message: r.voicemail_message, on: r.voicemail_on };
  }
  if (r.ends_at) {
    const end = new Date(r.ends_at);
    rules.ends_at = Number.isNaN(end.getTime()) ? r.ends_at : end.toISOString();
  }
  if (Number(retries) > 0) {
    const numbers = r.caller_numbers.filter(Boolean);
    if (numbers.length) rules.caller_ids = { numbers, strategy: r.caller_strategy };
    rules.alternate_strategy = r.alternate_strategy;
  }
  if (r.blackout_dates.filter(Boolean).length) rules.blackout_dates = r.blackout_dates.filter(Boolean);
  if (r.holidays_country.trim()) {
    rules.holidays = { country: r.holidays_country.trim().toUpperCase() };
    if (r.holidays_subdivision.trim()) rules.holidays.subdivision = r.holidays_subdivision.trim().toUpperCase();
  }
  if (r.attempt_limits.length) {
    rules.attempt_limits = r.attempt_limits.map((l) => ({ scope: l.scope, max_calls: int(l.max_calls), period_hours: int(l.period_hours), across: l.across || "campaign" }));
  }
  if (r.compliance.length) rules.compliance = r.compliance;
  const predial = predialOf(r);
  const mapping = {};
  for (const [col, variable] of Object.entries(state.mapping)) if (variable && state.columns.includes(col)) mapping[col] = variable;
  return {
    campaign_id: r.campaign_id || slug(r.name),
    name: r.name,
    description: r.description,
    agent_id: state.agent_id,
    source_number_id: state.source_number_id,
    variable_mapping: mapping,
    rules,
    ...(predial ? { predial } : {}),
  };
}

/** The definition's `predial` (beside `rules`, not in them), or null when no URL is given. */
function predialOf(r) {
  const url = (r.predial_url || "").trim();
  if (!url) return null;
  const timeout = r.predial_timeout_ms === "" || r.predial_timeout_ms === undefined ? "2000" : r.predial_timeout_ms;
  return { url, timeout_ms: int(timeout), on_error: r.predial_on_error || "skip" };
}

/** The rules step's defaults stand in for blanks when checking the list at step 2. */
function provisional(state) {
  const def = definition(state);
  def.campaign_id = def.campaign_id || "list-check";
  def.name = def.name || "List check";
  def.rules = { ...def.rules, max_retries: 0, concurrent_calls: 1, inbound_free_slots: 0, timezone: def.rules.timezone || "UTC" };
  delete def.rules.retry_delay_minutes;
  delete def.rules.caller_ids;
  delete def.predial; // checked at step 4, where its fields are
  return def;
}

/** Problem paths come as "definition.rules.x" or "rules.x": the form knows "rules.x". */
function normalise(problem) {
  if (!problem) return problem;
  return { ...problem, errors: (problem.errors || []).map((e) => ({ ...e, field: (e.field || "").replace(/^definition\./, "") })) };
}

export async function wizardPage(step, editing = null) {
  let state = loadDraft(editing);
  if (editing && state.editing !== editing) {
    try {
      state = fromBody(await api(`/campaigns/${encodeURIComponent(editing)}/draft`));
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      mount(h("h1", {}, `Edit ${editing}`), h("p", { role: "alert" }, e.problem.detail || e.message), h("a", { href: `#/campaigns/${encodeURIComponent(editing)}` }, "Back to the campaign"));
      return null;
    }
    save(state);
  }
  const base = editing ? `#/edit/${encodeURIComponent(editing)}` : "#/new";
  const [agents, numbers] = await Promise.all([all("/agents"), all("/numbers")]);
  const agentsById = Object.fromEntries(agents.map((a) => [a.agent_id, a]));
  const numbersById = Object.fromEntries(numbers.map((n) => [n.number_id, n]));
  const ready = [
    true,
    Boolean(state.agent_id && state.source_number_id),
    contactsOf(state).contacts.length > 0,
    true,
    Boolean(state.rules.name),
  ];
  let s = Math.min(Math.max(step || 1, 1), 5);
  while (s > 1 && !ready.slice(0, s).every(Boolean)) s -= 1;
  if (s !== step) { location.replace(`${base}/${s}`); return null; }

  // ctx.discarded: the draft was created or thrown away; leaving must not save it again.
  const ctx = { state, base, agents, numbers, agentsById, numbersById, discarded: false, go: (n) => { save(state); location.hash = `${base}/${n}`; } };
  const stepper = h("ol", { class: "stepper", "aria-label": "Steps" }, STEPS.map((label, i) => {
    const n = i + 1;
    const reachable = ready.slice(0, n).every(Boolean);
    const content = [h("span", { class: "num" }, String(n)), ` ${label}`];
    return h("li", { class: n === s ? "current" : n < s ? "done" : "" },
      reachable && n !== s ? h("a", { href: `${base}/${n}` }, content) : h("span", { "aria-current": n === s ? "step" : null }, content));
  }));
  const body = [stepOne, stepTwo, stepThree, stepFour, stepFive][s - 1](ctx);
  mount(
    h("div", { class: "page-head" },
      h("h1", {}, editing ? `Edit draft ${editing}: step ${s} of 5, ${STEPS[s - 1]}` : `Create campaign: step ${s} of 5, ${STEPS[s - 1]}`),
      h("button", { type: "button", class: "link", onclick: () => {
        if (!window.confirm(editing ? "Discard your changes to this draft?" : "Discard everything entered in this wizard?")) return;
        localStorage.removeItem(storageKey(editing));
        ctx.discarded = true;
        location.hash = `${base}/1`;
        if (s === 1) wizardPage(1, editing);
      } }, editing ? "Discard changes" : "Start over")),
    h("p", { class: "muted" }, editing
      ? "What you change is kept in this browser until you save it; the draft's contacts are replaced by the list below."
      : "What you enter is kept in this browser until the campaign is created."),
    stepper,
    body,
  );
  return () => { if (!ctx.discarded) save(state); };
}

function nav(ctx, step, { nextLabel = "Next", onNext } = {}) {
  const msg = h("div", { class: "form-msg", role: "alert" });
  return h("div", { class: "wizard-nav" },
    msg,
    step > 1 ? h("button", { type: "button", onclick: () => ctx.go(step - 1) }, "Back") : null,
    h("button", { type: "submit", class: "primary", "data-testid": "next" }, nextLabel),
  );
}

function stepForm(ctx, step, children, validate) {
  const form = h("form", { class: "card wizard", novalidate: true, oninput: (ev) => {
    save(ctx.state);
    // An edited field's old error goes; the next check says whether it still holds.
    const path = ev.target && ev.target.dataset ? ev.target.dataset.field : null;
    if (path) {
      ev.target.removeAttribute("aria-invalid");
      const slot = form.querySelector(`[data-error-for="${CSS.escape(path)}"]`);
      if (slot) slot.textContent = "";
    }
  }, onsubmit: async (ev) => {
    ev.preventDefault();
    const msg = form.querySelector(".form-msg");
    fill(msg, );
    const ok = await validate(form, msg);
    if (ok) ctx.go(step + 1);
  } }, children, nav(ctx, step, { nextLabel: step === 4 ? "Review summary" : "Next" }));
  return form;
}

// ---- Step 1 ---------------------------------------------------------------------------
function stepOne(ctx) {
  const { state, agents, numbers } = ctx;
  const agentSel = h("select", { required: true, onchange: () => { state.agent_id = agentSel.value; preview(); } },
    h("option", { value: "" }, "Choose an agent…"),
    agents.map((a) => h("option", { value: a.agent_id, selected: a.agent_id === state.agent_id }, `${a.name} (${a.agent_id})`)));
  const numberSel = h("select", { required: true, onchange: () => { state.source_number_id = numberSel.value; } },
    h("option", { value: "" }, "Choose a number…"),
    numbers.map((n) => h("option", { value: n.number_id, selected: n.number_id === state.source_number_id }, `${n.label || n.number_id} ${n.e164}`)));
  const prompt = h("div", { class: "prompt-preview", "aria-live": "polite" });
  function preview() {
    const a = ctx.agentsById[state.agent_id];
    fill(prompt, a ? [h("h2", {}, "Agent prompt"), h("blockquote", {}, a.prompt),
      h("p", {}, a.variables.length ? `Variables: ${a.variables.join(", ")}` : "This prompt has no variables.")] : "");
  }
  preview();
  const form = stepForm(ctx, 1, [
    !agents.length ? h("p", { class: "banner" }, "This account has no agent yet: add one below.") : null,
    !numbers.length ? h("p", { class: "banner" }, "This account has no phone number yet: add one below.") : null,
    field("AI agent that handles the calls", agentSel, { field: "agent_id" }),
    field("Source number the calls come from", numberSel, { field: "source_number_id" }),
    prompt,
  ], (form) => {
    const errors = [];
    if (!state.agent_id) errors.push({ field: "agent_id", message: "Choose the agent." });
    if (!state.source_number_id) errors.push({ field: "source_number_id", message: "Choose the source number." });
    showFieldErrors(form, { errors }, null);
    return errors.length === 0;
  });
  return h("div", {}, form, h("div", { class: "grid2" },
    addResource(ctx, "agent", !agents.length),
    addResource(ctx, "number", !numbers.length)));
}

/** Inline "New agent" / "New number" forms: POST /v1/agents or /v1/numbers, then select it. */
function addResource(ctx, kind, open) {
  const isAgent = kind === "agent";
  const id = h("input", { type: "text", required: true, placeholder: isAgent ? "renewals-bot" : "main-line", pattern: "[a-z0-9][a-z0-9._-]*" });
  const name = h("input", { type: "text", required: true, placeholder: isAgent ? "Renewals" : "Main line" });
  const text = isAgent
    ? h("textarea", { rows: "3", placeholder: "Hi {{customer_name}}, a word about your {{plan}} plan." })
    : h("input", { type: "tel", required: true, placeholder: "+15550100000" });
  const callerId = h("input", { type: "checkbox", checked: true });
  const general = h("div", { class: "form-msg", role: "alert" });
  const formEl = h("form", { class: "card", novalidate: true, onsubmit: async (ev) => {
    ev.preventDefault();
    const body = isAgent
      ? { agent_id: id.value.trim(), name: name.value.trim(), prompt: text.value }
      : { number_id: id.value.trim(), label: name.value.trim(), e164: text.value.trim(), caller_id: callerId.checked };
    try {
      await api(isAgent ? "/agents" : "/numbers", { method: "POST", body });
      if (isAgent) ctx.state.agent_id = body.agent_id; else ctx.state.source_number_id = body.number_id;
      save(ctx.state);
      announce(`${isAgent ? "Agent" : "Number"} ${body[isAgent ? "agent_id" : "number_id"]} added.`);
      await route();
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      showFieldErrors(formEl, e.problem, general);
    }
  } },
  h("h2", {}, isAgent ? "New agent" : "New phone number"),
  field(isAgent ? "Agent ID" : "Number ID", id, { field: isAgent ? "agent_id" : "number_id" }),
  field(isAgent ? "Agent name" : "Label", name, { field: isAgent ? "name" : "label" }),
  isAgent
    ? field("Prompt", text, { field: "prompt", hint: "Variables are written {{like_this}}; the number list's columns can feed them." })
    : [field("Number (E.164)", text, { field: "e164" }), h("label", { class: "block" }, callerId, " Also usable as a caller ID")],
  general,
  h("button", { type: "submit" }, isAgent ? "Add agent" : "Add number"));
  return h("details", { class: "add-resource", open: open || null },
    h("summary", {}, isAgent ? "Add an agent" : "Add a phone number"), formEl);
}

// ---- Step 2 ---------------------------------------------------------------------------
function stepTwo(ctx) {
  const { state } = ctx;
  const tableHost = h("div", { class: "table-wrap" });
  const rejectsHost = h("div", { id: "rejects", "aria-live": "polite" });
  const colName = h("input", { type: "text", placeholder: "e.g. name", pattern: "[A-Za-z_][A-Za-z0-9_]*" });
  const altSwitch = h("input", { type: "checkbox", role: "switch", checked: state.alternates > 0, onchange: () => {
    state.alternates = altSwitch.checked ? Math.max(1, state.alternates) : 0;
    save(state); renderTable();
  } });
  const fileInput = h("input", { type: "file", accept: ".csv,text/csv", onchange: async () => {
    const file = fileInput.files[0];
    if (!file) return;
    try {
      const parsed = parseCsv(await file.text());
      Object.assign(state, { columns: parsed.columns, alternates: parsed.alternates, altColumns: parsed.altColumns, rows: parsed.rows.length ? parsed.rows : [{ [PHONE]: "" }], csvRejects: parsed.rejects, source: "csv", csvName: file.name });
      altSwitch.checked = state.alternates > 0;
      save(state);
      renderTable();
      announce(`${parsed.rows.length} rows loaded from ${file.name}.`);
      await check();
    } catch (e) {
      fill(rejectsHost, h("p", { class: "error", role: "alert" }, e.message));
    }
  } });

  /** One cell: a text input, or for `agent_id` a choice of the account's agents (blank: the campaign's). */
  function cell(row, i, c, invalid) {
    const common = { "aria-label": `Row ${i + 1} ${c}`, "aria-invalid": invalid ? "true" : null, dataset: { row: String(i + 1), col: c } };
    if (c === AGENT_COLUMN) {
      return h("select", { ...common, onchange: (ev) => { row[c] = ev.target.value; save(state); } },
        h("option", { value: "" }, "The campaign's agent"),
        ctx.agents.map((a) => h("option", { value: a.agent_id, selected: row[c] === a.agent_id }, `${a.name} (${a.agent_id})`)));
    }
    return h("input", { ...common, type: c.startsWith(PHONE) ? "tel" : "text", value: row[c] ?? "", oninput: (ev) => { row[c] = ev.target.value; } });
  }

  function renderTable(rejected = new Map()) {
    const cols = tableColumns(state);
    const headRow = h("tr", {}, h("th", { scope: "col" }, "#"), cols.map((c) => h("th", { scope: "col" },
      c, state.columns.includes(c) ? h("button", { type: "button", class: "link small", "aria-label": `Remove column ${c}`, onclick: () => {
        state.columns = state.columns.filter((x) => x !== c);
        state.altColumns = state.altColumns.filter((x) => x !== c);
        save(state); renderTable();
      } }, "×") : null)), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Row actions")));
    const body = h("tbody", {}, state.rows.map((row, i) => h("tr", { class: rejected.has(i + 1) ? "rejected" : "" },
      h("td", { class: "muted" }, String(i + 1)),
      cols.map((c) => h("td", {}, cell(row, i, c, rejected.has(i + 1) && (rejected.get(i + 1) === c || !rejected.get(i + 1))))),
      h("td", {}, h("button", { type: "button", class: "link", "aria-label": `Remove row ${i + 1}`, onclick: () => {
        state.rows.splice(i, 1);
        if (!state.rows.length) state.rows.push({ [PHONE]: "" });
        save(state); renderTable();
      } }, "Remove")))));
    fill(tableHost, h("table", { class: "numbers" },
      h("caption", {}, `Numbers to call${state.csvName ? ` (from ${state.csvName}, editable)` : ""}`),
      h("thead", {}, headRow), body));
  }

  async function check() {
    const { contacts, tableRow } = contactsOf(state);
    const local = (state.csvRejects || []).map((r) => ({ ...r, where: "file" }));
    if (!contacts.length) {
      fill(rejectsHost, h("p", { class: "error", role: "alert" }, "Add at least one number."));
      return false;
    }
    let summary;
    try {
      summary = await api("/campaigns?dry_run=true", { method: "POST", body: { definition: provisional(state), contacts } });
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      const rows = (e.problem.errors || []).filter((x) => x.row);
      summary = { contacts: { accepted: 0, rejected: rows.length }, rejected: rows.map((x) => ({ row: x.row, column: x.column, reason: x.message })) };
      if (!rows.length) {
        fill(rejectsHost, h("p", { class: "error", role: "alert" }, e.problem.detail || e.message));
        return false;
      }
    }
    const rejected = (summary.rejected || []).map((r) => ({ ...r, tableRow: tableRow[r.row - 1] ?? r.row }));
    const byRow = new Map(rejected.map((r) => [r.tableRow, r.column]));
    renderTable(byRow);
    const all = [...local, ...rejected];
    fill(rejectsHost, 
      h("p", { class: all.length ? "warn" : "ok", "data-testid": "list-check" },
        `${summary.contacts.accepted} accepted, ${summary.contacts.rejected + local.length} rejected.`),
      all.length ? h("table", { class: "rejects", "data-testid": "rejects" },
        h("caption", {}, "Rejected rows (they will not be called)"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Row"), h("th", { scope: "col" }, "Column"), h("th", { scope: "col" }, "Reason"))),
        h("tbody", {}, all.map((r) => h("tr", {}, h("td", {}, String(r.tableRow ?? r.row)), h("td", {}, r.column || "–"), h("td", {}, r.reason))))) : null);
    state.listCheck = { accepted: summary.contacts.accepted, rejected: summary.contacts.rejected + local.length };
    save(state);
    return true;
  }

  renderTable();
  const altCount = h("input", { type: "number", min: "1", max: "9", value: String(Math.max(1, state.alternates)), onchange: () => {
    state.alternates = Math.max(1, Math.min(9, Number(altCount.value) || 1));
    altSwitch.checked = true; save(state); renderTable();
  } });
  const altVar = h("input", { type: "text", placeholder: "e.g. name" });
  return stepForm(ctx, 2, [
    h("fieldset", {}, h("legend", {}, "Upload a CSV (optional)"),
      field("CSV file (header row; phone_number required; _2, _3 columns for alternates)", fileInput, { hint: "It fills the table below, where you can still edit it." })),
    h("fieldset", {}, h("legend", {}, "Table"),
      h("div", { class: "row-tools" },
        field("New variable column", colName),
        h("button", { type: "button", onclick: () => {
          const c = colName.value.trim();
          if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(c) || c === PHONE || state.columns.includes(c)) { colName.setAttribute("aria-invalid", "true"); colName.focus(); return; }
          colName.removeAttribute("aria-invalid");
          state.columns.push(c); colName.value = ""; save(state); renderTable();
        } }, "Add column")),
      h("div", { class: "row-tools" },
        h("label", { class: "switch" }, altSwitch, " Alternate numbers per contact"),
        field("Alternates per contact", altCount),
        field("Variable for alternates", altVar, { hint: "e.g. name, filled as name_2 for the person behind phone_number_2" }),
        h("button", { type: "button", onclick: () => {
          const c = altVar.value.trim();
          if (!state.columns.includes(c)) { altVar.setAttribute("aria-invalid", "true"); altVar.focus(); return; }
          altVar.removeAttribute("aria-invalid");
          if (!state.altColumns.includes(c)) state.altColumns.push(c);
          state.alternates = Math.max(1, state.alternates); altSwitch.checked = true;
          altVar.value = ""; save(state); renderTable();
        } }, "Add alternate variable")),
      tableHost,
      h("div", { class: "row-tools" },
        state.columns.includes(AGENT_COLUMN) ? null : h("button", { type: "button", "data-testid": "add-agent-column", onclick: () => {
          state.columns.push(AGENT_COLUMN); save(state); renderTable();
        } }, "Add an agent column (a contact's own agent)"),
        h("button", { type: "button", "data-testid": "add-row", onclick: () => {
          state.rows.push({ [PHONE]: "" }); save(state); renderTable();
          const inputs = tableHost.querySelectorAll(`input[data-row="${state.rows.length}"]`);
          if (inputs[0]) inputs[0].focus();
        } }, "Add row"),
        h("button", { type: "button", "data-testid": "check-list", onclick: () => check() }, "Check the numbers"))),
    rejectsHost,
  ], async () => check());
}

// ---- Step 3 ---------------------------------------------------------------------------
function stepThree(ctx) {
  const { state } = ctx;
  const agent = ctx.agentsById[state.agent_id];
  const variables = agent ? agent.variables : [];
  const columns = state.columns.filter((c) => !RESERVED.has(c));
  for (const c of columns) if (!(c in state.mapping)) state.mapping[c] = variables.includes(c) ? c : "";
  const warn = h("div", { "aria-live": "polite", "data-testid": "unfed" });
  function refresh() {
    const fed = new Set(columns.map((c) => state.mapping[c]).filter(Boolean));
    const unfed = variables.filter((v) => !fed.has(v));
    fill(warn, unfed.length
      ? h("p", { class: "warn" }, `No column feeds: ${unfed.join(", ")}. The agent will say these placeholders without a value.`)
      : h("p", { class: "ok" }, variables.length ? "Every agent variable is fed by a column." : "The agent's prompt has no variables."));
  }
  refresh();
  return stepForm(ctx, 3, [
    h("p", {}, `Agent ${agent ? agent.name : state.agent_id} declares: ${variables.length ? variables.join(", ") : "no variables"}.`),
    columns.length ? h("table", { class: "mapping" },
      h("caption", {}, "Column to agent variable"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Column"), h("th", { scope: "col" }, "Agent variable"))),
      h("tbody", {}, columns.map((c) => {
        const id = newId("map");
        return h("tr", {}, h("th", { scope: "row" }, h("label", { for: id }, c)),
          h("td", {}, h("select", { id, dataset: { field: `variable_mapping.${c}` }, onchange: (ev) => { state.mapping[c] = ev.target.value; save(state); refresh(); } },
            h("option", { value: "" }, "Not used"),
            variables.map((v) => h("option", { value: v, selected: state.mapping[c] === v }, v))),
          h("span", { class: "error", dataset: { errorFor: `variable_mapping.${c}` } })));
      }))) : h("p", {}, "The list has no extra columns to map."),
    warn,
  ], async () => true);
}

// ---- Step 4 ---------------------------------------------------------------------------
function stepFour(ctx) {
  const { state } = ctx;
  const r = state.rules;
  const callerNumbers = ctx.numbers.filter((n) => n.caller_id);
  const zones = (Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : ["UTC"]);
  if (!zones.includes("UTC")) zones.unshift("UTC");
  const bind = (key, input, parse = (v) => v) => {
    input.addEventListener("input", () => { r[key] = parse(input.value); save(state); });
    return input;
  };
  const name = bind("name", h("input", { type: "text", value: r.name, required: true, autocomplete: "off" }));
  const cid = h("input", { type: "text", value: r.campaign_id || slug(r.name), pattern: "[a-z0-9][a-z0-9._-]{0,63}", readonly: state.editing ? true : null });
  name.addEventListener("input", () => { if (!r.campaign_id_edited) { cid.value = slug(name.value); r.campaign_id = cid.value; save(state); } });
  cid.addEventListener("input", () => { r.campaign_id = cid.value; r.campaign_id_edited = true; save(state); });
  const retries = bind("max_retries", h("input", { type: "number", min: "0", step: "1", value: r.max_retries }));
  const retryHost = h("div", { class: "retry-options" });
  retries.addEventListener("input", () => renderRetry());
  const windowsHost = h("div");
  const blackoutHost = h("div");
  const limitsHost = h("div");

  function renderWindows() {
    fill(windowsHost, h("fieldset", { dataset: { fieldWrap: "rules.calling_window" } }, h("legend", {}, "Calling window (campaign time zone)"),
      r.windows.map((w, i) => {
        const path = r.windows.length === 1 ? "rules.calling_window" : `rules.calling_window.${i}`;
        const start = h("input", { type: "time", value: w.start, "aria-label": `Window ${i + 1} start`, dataset: { field: `${path}.start` }, oninput: (ev) => { w.start = ev.target.value; save(state); } });
        const end = h("input", { type: "text", value: w.end, inputmode: "numeric", placeholder: "HH:MM or 24:00", "aria-label": `Window ${i + 1} end`, dataset: { field: `${path}.end` }, oninput: (ev) => { w.end = ev.target.value; save(state); } });
        return h("div", { class: "row-tools" }, start, " to ", end,
          r.windows.length > 1 ? h("button", { type: "button", class: "link", "aria-label": `Remove window ${i + 1}`, onclick: () => { r.windows.splice(i, 1); save(state); renderWindows(); } }, "Remove") : null,
          h("span", { class: "error", dataset: { errorFor: path } }));
      }),
      r.windows.length < 6 ? h("button", { type: "button", onclick: () => { r.windows.push({ start: "", end: "" }); save(state); renderWindows(); } }, "Add another window") : null,
      h("span", { class: "error", dataset: { errorFor: "rules.calling_window" } })));
  }

  function renderRetry() {
    if (!(Number(retries.value) > 0)) {
      fill(retryHost, h("p", { class: "muted" }, "With retries, you can also pick a caller ID per attempt and the alternate number strategy."));
      return;
    }
    const attempts = 1 + Number(retries.value);
    const strategy = h("select", { onchange: () => { r.caller_strategy = strategy.value; save(state); renderRetry(); } },
      STRATEGIES.map(([v, label]) => h("option", { value: v, selected: r.caller_strategy === v }, label)));
    if (r.caller_strategy === "custom") {
      r.caller_numbers = Array.from({ length: attempts }, (_, i) => r.caller_numbers[i] || "");
    }
    const slots = r.caller_numbers.map((value, i) => {
      const sel = h("select", { "aria-label": r.caller_strategy === "custom" ? `Caller ID for attempt ${i + 1}` : `Caller ID number ${i + 1}`,
        dataset: { field: `rules.caller_ids.numbers.${i}` },
        onchange: () => { r.caller_numbers[i] = sel.value; save(state); } },
      h("option", { value: "" }, "Choose a number…"),
      callerNumbers.map((n) => h("option", { value: n.e164, selected: n.e164 === value }, `${n.label || n.number_id} ${n.e164}`)));
      return h("li", {}, r.caller_strategy === "custom" ? `Attempt ${i + 1}: ` : "", sel,
        r.caller_strategy !== "custom" ? h("button", { type: "button", class: "link", "aria-label": `Remove caller ID ${i + 1}`, onclick: () => { r.caller_numbers.splice(i, 1); save(state); renderRetry(); } }, "Remove") : null,
        h("span", { class: "error", dataset: { errorFor: `rules.caller_ids.numbers.${i}` } }));
    });
    const altStrategy = h("select", { onchange: () => { r.alternate_strategy = altStrategy.value; save(state); } },
      ALT_STRATEGIES.map(([v, label]) => h("option", { value: v, selected: r.alternate_strategy === v }, label)));
    fill(retryHost, 
      h("fieldset", { dataset: { fieldWrap: "rules.caller_ids" } }, h("legend", {}, `Caller ID per dial attempt (${attempts} attempts)`),
        callerNumbers.length ? null : h("p", { class: "warn" }, "The account has no numbers marked as caller ID; every attempt uses the source number."),
        field("Rotation strategy", strategy, { field: "rules.caller_ids.strategy" }),
        h("ol", { class: "slots" }, slots),
        r.caller_strategy !== "custom" && callerNumbers.length ? h("button", { type: "button", onclick: () => { r.caller_numbers.push(""); save(state); renderRetry(); } }, "Add caller ID") : null,
        h("p", { class: "hint" }, "Leave empty to use the source number for every attempt."),
        h("span", { class: "error", dataset: { errorFor: "rules.caller_ids" } })),
      field("Alternate number strategy", altStrategy, { field: "rules.alternate_strategy", hint: "How contacts' alternate numbers are used when there are fewer than the attempts." }));
  }

  function renderBlackouts() {
    fill(blackoutHost, h("fieldset", {}, h("legend", {}, "Blackout dates (no calls on these days)"),
      h("ul", { class: "plain" }, r.blackout_dates.map((d, i) => h("li", {},
        h("input", { type: "date", value: d, "aria-label": `Blackout date ${i + 1}`, dataset: { field: `rules.blackout_dates.${i}` }, oninput: (ev) => { r.blackout_dates[i] = ev.target.value; save(state); } }),
        h("button", { type: "button", class: "link", "aria-label": `Remove blackout date ${i + 1}`, onclick: () => { r.blackout_dates.splice(i, 1); save(state); renderBlackouts(); } }, "Remove"),
        h("span", { class: "error", dataset: { errorFor: `rules.blackout_dates.${i}` } })))),
      h("button", { type: "button", onclick: () => { r.blackout_dates.push(""); save(state); renderBlackouts(); } }, "Add blackout date"),
      h("span", { class: "error", dataset: { errorFor: "rules.blackout_dates" } })));
  }

  function across(l, i) {
    const sel = h("select", { "aria-label": `Limit ${i + 1} counts calls of`, dataset: { field: `rules.attempt_limits.${i}.across` }, onchange: () => { l.across = sel.value; save(state); } },
      h("option", { value: "campaign", selected: (l.across || "campaign") === "campaign" }, "in this campaign"),
      h("option", { value: "account", selected: l.across === "account" }, "across the account's campaigns (per number only)"));
    return sel;
  }

  function renderLimits() {
    fill(limitsHost, h("fieldset", {}, h("legend", {}, "Attempt limits"),
      h("ul", { class: "plain" }, r.attempt_limits.map((l, i) => {
        const scope = h("select", { "aria-label": `Limit ${i + 1} scope`, dataset: { field: `rules.attempt_limits.${i}.scope` }, onchange: () => { l.scope = scope.value; save(state); } },
          h("option", { value: "number", selected: l.scope === "number" }, "per number"), h("option", { value: "contact", selected: l.scope === "contact" }, "per contact"));
        return h("li", {}, "At most ",
          h("input", { type: "number", min: "1", value: l.max_calls, class: "short", "aria-label": `Limit ${i + 1} maximum calls`, dataset: { field: `rules.attempt_limits.${i}.max_calls` }, oninput: (ev) => { l.max_calls = ev.target.value; save(state); } }),
          " calls ", scope, " in ",
          h("input", { type: "number", min: "0", step: "any", value: l.period_hours, class: "short", "aria-label": `Limit ${i + 1} period in hours`, dataset: { field: `rules.attempt_limits.${i}.period_hours` }, oninput: (ev) => { l.period_hours = ev.target.value; save(state); } }),
          " hours, counted ",
          across(l, i),
          " ",
          h("button", { type: "button", class: "link", "aria-label": `Remove limit ${i + 1}`, onclick: () => { r.attempt_limits.splice(i, 1); save(state); renderLimits(); } }, "Remove"),
          h("span", { class: "error", dataset: { errorFor: `rules.attempt_limits.${i}` } }));
      })),
      h("button", { type: "button", onclick: () => { r.attempt_limits.push({ scope: "number", max_calls: "3", period_hours: "24", across: "campaign" }); save(state); renderLimits(); } }, "Add attempt limit"),
      h("span", { class: "error", dataset: { errorFor: "rules.attempt_limits" } })));
  }

  const voicemailHost = h("div");
  function renderVoicemail() {
    const action = h("select", { onchange: () => { r.voicemail_action = action.value; save(state); renderVoicemail(); } },
      h("option", { value: "hang_up", selected: r.voicemail_action !== "leave_message" }, "Hang up"),
      h("option", { value: "leave_message", selected: r.voicemail_action === "leave_message" }, "Leave a message"));
    const leave = r.voicemail_action === "leave_message";
    fill(voicemailHost, h("fieldset", { dataset: { fieldWrap: "rules.voicemail" } }, h("legend", {}, "When an answering machine picks up"),
      field("Voicemail", action, { field: "rules.voicemail.action" }),
      leave ? [
        field("Message", bind("voicemail_message", h("textarea", { rows: "2", placeholder: "Hi {{customer_name}}, we will call again." }, r.voicemail_message)),
          { field: "rules.voicemail.message", hint: "Variables are written {{like_this}}, filled from the contact's columns." }),
        field("Leave it on", bind("voicemail_on", h("select", {},
          h("option", { value: "last", selected: r.voicemail_on !== "every" }, "the last attempt only"),
          h("option", { value: "every", selected: r.voicemail_on === "every" }, "every attempt"))), { field: "rules.voicemail.on" }),
      ] : null,
      h("span", { class: "error", dataset: { errorFor: "rules.voicemail" } })));
  }

  const predialHost = h("fieldset", { dataset: { fieldWrap: "predial" } }, h("legend", {}, "Pre-dial check (optional)"),
    h("p", { class: "hint" }, "Before each call the dialer asks this URL of yours whether to dial (https; see the README)."),
    field("Check URL", bind("predial_url", h("input", { type: "url", value: r.predial_url, placeholder: "https://your-crm/campaignflow/predial", autocomplete: "off", spellcheck: "false" })),
      { field: "predial.url", hint: "Leave empty for no check." }),
    h("div", { class: "grid3" },
      field("Check timeout (ms)", bind("predial_timeout_ms", h("input", { type: "number", min: "100", max: "10000", step: "1", value: r.predial_timeout_ms })), { field: "predial.timeout_ms", hint: "100 to 10000; default 2000." }),
      field("When the check fails", bind("predial_on_error", h("select", {},
        h("option", { value: "skip", selected: r.predial_on_error !== "dial" }, "skip the call"),
        h("option", { value: "dial", selected: r.predial_on_error === "dial" }, "dial anyway"))), { field: "predial.on_error", hint: "A timeout, an error status or a bad answer." })),
    h("span", { class: "error", dataset: { errorFor: "predial" } }));

  renderWindows(); renderRetry(); renderBlackouts(); renderLimits(); renderVoicemail();
  const tzList = h("datalist", { id: "tz-list" }, zones.map((z) => h("option", { value: z })));
  const general = h("div", { class: "form-msg", role: "alert" });
  const days = h("fieldset", { dataset: { fieldWrap: "rules.calling_days" } }, h("legend", {}, "Calling days"),
    h("div", { class: "days" }, DAYS.map((d) => h("label", {}, h("input", { type: "checkbox", value: d, checked: r.calling_days.includes(d), dataset: d === "mon" ? { field: "rules.calling_days" } : {}, onchange: (ev) => {
      r.calling_days = DAYS.filter((x) => (x === d ? ev.target.checked : r.calling_days.includes(x)));
      save(state);
    } }), ` ${DAY_LABELS[d]}`))),
    h("span", { class: "error", dataset: { errorFor: "rules.calling_days" } }));

  const formEl = stepForm(ctx, 4, [
    h("div", { class: "grid2" },
      field("Campaign name", name, { field: "name" }),
      field("Campaign ID", cid, { field: "campaign_id", hint: state.editing ? "A draft keeps its ID." : "Lower case letters, digits, . _ - (from the name unless you change it)." })),
    field("Description (optional)", bind("description", h("textarea", { rows: "2" }, r.description)), { field: "description" }),
    h("div", { class: "grid3" },
      field("Max retries", retries, { field: "rules.max_retries", hint: "Attempts per contact = 1 + retries." }),
      field("Retry delay (minutes)", bind("retry_delay_minutes", h("input", { type: "number", min: "0", step: "any", value: r.retry_delay_minutes })), { field: "rules.retry_delay_minutes", hint: "Fractions allowed (0.1 = 6 seconds)." }),
      field("Time zone", bind("timezone", h("input", { type: "text", list: "tz-list", value: r.timezone, autocomplete: "off", spellcheck: "false" })), { field: "rules.timezone", hint: "Type to search the IANA list, e.g. Europe/Paris." })),
    tzList,
    days,
    windowsHost,
    h("div", { class: "grid3" },
      field("Concurrent calls", bind("concurrent_calls", h("input", { type: "number", min: "1", step: "1", value: r.concurrent_calls })), { field: "rules.concurrent_calls" }),
      field("Free slots for inbound", bind("inbound_free_slots", h("input", { type: "number", min: "0", step: "1", value: r.inbound_free_slots })), { field: "rules.inbound_free_slots", hint: "Kept free out of the concurrent calls." })),
    h("div", { class: "grid3" },
      field("Priority (1-10)", bind("priority", h("input", { type: "number", min: "1", max: "10", step: "1", value: r.priority })), { field: "rules.priority", hint: "When the account's lines are scarce, the higher priority calls first." }),
      field("Ends at (optional)", bind("ends_at", h("input", { type: "datetime-local", value: r.ends_at })), { field: "rules.ends_at", hint: "Your local time. No call from then on; waiting contacts end expired." }),
      field("Callbacks per contact", bind("max_callbacks", h("input", { type: "number", min: "0", step: "1", value: r.max_callbacks })), { field: "rules.max_callbacks", hint: "When a person asks to be called back at a time (0: never)." })),
    retryHost,
    voicemailHost,
    predialHost,
    h("details", { class: "compliance", open: r.blackout_dates.length || r.attempt_limits.length || r.compliance.length || r.holidays_country ? true : null },
      h("summary", {}, "Compliance rules (optional)"),
      blackoutHost,
      h("fieldset", { dataset: { fieldWrap: "rules.holidays" } }, h("legend", {}, "Public holidays (no calls)"),
        h("div", { class: "grid2" },
          field("Country (ISO code)", bind("holidays_country", h("input", { type: "text", value: r.holidays_country, maxlength: "2", placeholder: "US" })), { field: "rules.holidays.country" }),
          field("Subdivision (optional)", bind("holidays_subdivision", h("input", { type: "text", value: r.holidays_subdivision, maxlength: "6", placeholder: "NY" })), { field: "rules.holidays.subdivision" }))),
      limitsHost,
      h("fieldset", {}, h("legend", {}, "Presets"),
        PRESETS.map(([v, label]) => h("label", { class: "block" }, h("input", { type: "checkbox", value: v, checked: r.compliance.includes(v), dataset: v === "us_tcpa" ? { field: "rules.compliance" } : {}, onchange: (ev) => {
          r.compliance = PRESETS.map(([p]) => p).filter((p) => (p === v ? ev.target.checked : r.compliance.includes(p)));
          save(state);
        } }), ` ${label}`)),
        h("span", { class: "error", dataset: { errorFor: "rules.compliance" } }))),
    general,
  ], async (formNode) => {
    const errors = [];
    if (!r.name.trim()) errors.push({ field: "name", message: "Give the campaign a name." });
    if (!r.campaign_id) r.campaign_id = slug(r.name);
    if (errors.length) { showFieldErrors(formNode, { errors }, general); return false; }
    const { contacts } = contactsOf(state);
    try {
      const summary = await api("/campaigns?dry_run=true", { method: "POST", body: { definition: definition(state), contacts } });
      state.summary = summary;
      save(state);
      showFieldErrors(formNode, { errors: [] }, general);
      return true;
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      const problem = normalise(e.problem);
      problem.errors = problem.errors.filter((x) => !x.row);
      showFieldErrors(formNode, problem, general);
      return false;
    }
  });
  return formEl;
}

// ---- Step 5 ---------------------------------------------------------------------------
function stepFive(ctx) {
  const { state } = ctx;
  const host = h("div", { "aria-live": "polite" }, h("p", {}, "Checking the campaign…"));
  const msg = h("div", { class: "form-msg", role: "alert" });
  const create = h("button", { type: "button", class: "primary", "data-testid": "create", disabled: true, onclick: async () => {
    create.disabled = true;
    fill(msg, );
    state.idempotency = state.idempotency || (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()));
    save(state);
    try {
      const { contacts } = contactsOf(state);
      const body = { definition: definition(state), contacts };
      const res = state.editing
        ? await api(`/campaigns/${encodeURIComponent(state.editing)}`, { method: "PUT", body })
        : await api("/campaigns", { method: "POST", body, idempotency: state.idempotency });
      localStorage.removeItem(storageKey(state.editing));
      ctx.discarded = true;
      announce(state.editing ? `Draft ${res.campaign_id} saved.` : `Campaign ${res.campaign_id} created as a draft.`);
      location.hash = `#/campaigns/${encodeURIComponent(res.campaign_id)}`;
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      fill(msg, h("p", { class: "error" }, e.problem.detail || e.message),
        h("ul", {}, (e.problem.errors || []).map((x) => h("li", {}, `${x.field || ""} ${x.message}`))));
      create.disabled = false;
    }
  } }, state.editing ? "Save changes" : "Create campaign");
  (async () => {
    try {
      const { contacts, tableRow } = contactsOf(state);
      const summary = await api("/campaigns?dry_run=true", { method: "POST", body: { definition: definition(state), contacts } });
      fill(host, renderSummary(ctx, summary, tableRow, contacts));
      create.disabled = false;
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      fill(host, h("p", { class: "error" }, `The API refused the campaign: ${e.problem.detail || e.message}`),
        h("ul", {}, (e.problem.errors || []).map((x) => h("li", {}, `${x.field || ""} ${x.message}`))),
        h("a", { href: `${ctx.base}/4` }, "Back to the rules"));
    }
  })();
  return h("section", { class: "card wizard" }, host,
    h("div", { class: "wizard-nav" }, msg,
      h("button", { type: "button", onclick: () => ctx.go(4) }, "Back"), create),
    h("p", { class: "muted" }, "The campaign is saved as a Draft: start or schedule it from its page or the campaign list."));
}

function renderSummary(ctx, s, tableRow, contacts) {
  const { state } = ctx;
  const agent = ctx.agentsById[state.agent_id];
  const number = ctx.numbersById[state.source_number_id];
  const rules = s.rules || {};
  const forecastHost = h("div", { "data-testid": "forecast-section", "aria-live": "polite" }, renderForecast(s.forecast));
  const rate = h("input", { type: "number", min: "0", max: "100", step: "1", class: "short",
    value: String(Math.round(100 * (((s.forecast || {}).assumptions || {}).outcome_shares || {}).answered ?? 30)) });
  const again = h("button", { type: "button", "data-testid": "reforecast", onclick: async () => {
    const share = Math.min(100, Math.max(0, Number(rate.value) || 0)) / 100;
    again.disabled = true;
    try {
      const res = await api(`/campaigns?dry_run=true&answer_rate=${share}`, { method: "POST", body: { definition: definition(state), contacts } });
      fill(forecastHost, renderForecast(res.forecast));
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      fill(forecastHost, h("p", { class: "error" }, e.problem.detail || e.message));
    } finally { again.disabled = false; }
  } }, "Forecast again");
  return h("div", { class: "summary", "data-testid": "summary" },
    h("h2", {}, "Contacts"),
    h("p", { "data-testid": "summary-contacts" }, `${s.contacts.accepted} accepted, ${s.contacts.rejected} rejected.`),
    (s.rejected || []).length ? h("table", { class: "rejects" },
      h("caption", {}, "Rejected rows"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Row"), h("th", { scope: "col" }, "Column"), h("th", { scope: "col" }, "Reason"))),
      h("tbody", {}, s.rejected.map((r) => h("tr", {}, h("td", {}, String(tableRow[r.row - 1] ?? r.row)), h("td", {}, r.column || "–"), h("td", {}, r.reason))))) : null,
    h("h2", {}, "Agent and number"),
    h("dl", { class: "facts" },
      h("dt", {}, "Agent"), h("dd", {}, agent ? `${agent.name} (${agent.agent_id})` : state.agent_id),
      h("dt", {}, "Source number"), h("dd", {}, number ? `${number.label || number.number_id} ${number.e164}` : state.source_number_id)),
    h("h2", {}, "Mapped variables"),
    h("dl", { class: "facts" }, Object.entries((s.variables && s.variables.mapped) || {}).map(([c, v]) => [h("dt", {}, c), h("dd", {}, v)])),
    s.variables && s.variables.unfed && s.variables.unfed.length ? h("p", { class: "warn" }, `Not fed by any column: ${s.variables.unfed.join(", ")}.`) : null,
    h("h2", {}, "Rules"),
    h("dl", { class: "facts", "data-testid": "summary-rules" }, Object.entries(rules).map(([k, v]) => [h("dt", {}, k.replace(/_/g, " ")), h("dd", { dataset: { rule: k } }, ruleText(k, v))]),
      h("dt", {}, "pre-dial check"), h("dd", { dataset: { rule: "predial" } }, ruleText("predial", s.predial))),
    renderPreview(s.preview),
    h("h2", {}, "Forecast"),
    h("div", { class: "row-tools" }, field("Answer rate for the forecast (%)", rate), again),
    forecastHost,
    s.contacts.accepted === 0 ? h("p", { class: "warn" }, "No contact was accepted: the campaign would have nothing to call.") : null);
}

/** The launch preview (SPEC 7), as `campaign create` prints it: contacts by first rule. */
function renderPreview(p) {
  if (!p) return null;
  return [h("h2", {}, "At launch"),
    h("table", { class: "preview", "data-testid": "preview" },
      h("caption", {}, "If started at ", h("time", { datetime: p.at, "data-testid": "preview-at" }, when(p.at)), ": contacts callable, or the first rule holding them back"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Rule"), h("th", { scope: "col" }, "Contacts"), h("th", { scope: "col" }, "What it means"))),
      h("tbody", {}, Object.entries(p.counts).map(([reason, n]) => h("tr", { dataset: { reason } },
        h("th", { scope: "row" }, reason), h("td", { "data-col": "count" }, String(n)), h("td", {}, (p.explanations || {})[reason] || "")))))];
}

function shareText(shares) {
  return Object.entries(shares || {}).map(([k, v]) => `${k.replace(/_/g, " ")} ${Math.round(v * 1000) / 10}%`).join(", ");
}

/** The forecast and what it assumed (outcome shares, call length, retries, the account's lines). */
function renderForecast(f) {
  if (!f) return h("p", { class: "muted" }, "No forecast (an empty list, or one too large to simulate here: run campaignflow simulate).");
  const a = f.assumptions || {};
  const retries = a.max_retries ? `up to ${a.max_retries} retries ${a.retry_delay_minutes} min apart (on ${(a.retry_on || []).join(", ")})` : "no retries";
  const lines = a.lines === null || a.lines === undefined
    ? "no account line limit (each campaign keeps its own concurrent calls)"
    : `${a.lines} account lines shared with ${a.other_running_campaigns} other running campaign(s) (${a.other_remaining_contacts} contacts left)`;
  return [
    h("p", { "data-testid": "forecast" }, f.finished_at ? `If started now, it would finish around ${when(f.finished_at)}.` : "No finish forecast (the calling window may never open)."),
    f.contacts ? h("p", { "data-testid": "forecast-contacts" }, `Contacts at the end: ${Object.entries(f.contacts).filter(([k]) => k !== "accepted").map(([k, v]) => `${v} ${k.replace(/_/g, " ")}`).join(", ") || "none final"}.`) : null,
    costText(f.cost),
    h("p", { class: "muted", "data-testid": "forecast-assumptions" },
      `Assumes: ${shareText(a.outcome_shares)} of calls; each call ${a.call_seconds} s; ${retries}; ${lines}.`)];
}

/** Expected billed minutes, and their cost when the source number has a rate. */
function costText(c) {
  if (!c) return null;
  const minutes = `${c.billed_minutes} billed minutes (${c.billed_calls} connected calls, billed in ${c.billing_increment_seconds} s steps)`;
  return h("p", { "data-testid": "forecast-cost" }, c.cost === null
    ? `Expected: ${minutes}; the source number has no rate, so no cost.`
    : `Expected: ${minutes}, about ${c.cost} ${c.currency} at ${c.rate_per_minute} ${c.currency} a minute.`);
}
