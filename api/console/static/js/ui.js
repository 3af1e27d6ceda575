// Small DOM helpers shared by every view (no framework: plain elements).

/** h("button", {type: "button", onclick}, "Start") -> an element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "value") el.value = value;
    else if (key === "checked") el.checked = Boolean(value);
    // Through the CSSOM: the Content-Security-Policy refuses style attributes.
    else if (key === "style") Object.assign(el.style, value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

let uid = 0;
/** A fresh id for label/aria-describedby pairs. */
export function newId(prefix = "f") {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** Replace the view's content and move focus to its heading (screen readers hear the new page). */
export function mount(...nodes) {
  const view = document.getElementById("view");
  fill(view, ...nodes);
  const heading = view.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: false });
  }
}

export function announce(text) {
  const live = document.getElementById("announce");
  live.textContent = "";
  window.setTimeout(() => { live.textContent = text; }, 30);
}

export const STATUS_LABELS = {
  draft: "Draft", scheduled: "Scheduled", running: "Running",
  paused: "Paused", completed: "Completed", cancelled: "Cancelled",
};

export function statusBadge(status) {
  return h("span", { class: `badge badge-${status}`, "data-status": status }, STATUS_LABELS[status] || status);
}

export function pct(rate) {
  if (rate === null || rate === undefined || Number.isNaN(rate)) return "–";
  return `${(rate * 100).toFixed(1)}%`;
}

export function when(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

export function timeEl(iso) {
  return iso ? h("time", { datetime: iso }, when(iso)) : "–";
}

/** A labelled form field; `field` is the API's dotted path, so its errors land next to it. */
export function field(label, input, { field: path, hint } = {}) {
  const id = input.id || newId("in");
  input.id = id;
  const errId = `${id}-err`;
  const hintId = hint ? `${id}-hint` : null;
  if (path) input.dataset.field = path;
  input.setAttribute("aria-describedby", [hintId, errId].filter(Boolean).join(" "));
  return h("div", { class: "field", dataset: path ? { fieldWrap: path } : {} },
    h("label", { for: id }, label),
    input,
    hint ? h("span", { class: "hint", id: hintId }, hint) : null,
    h("span", { class: "error", id: errId, dataset: { errorFor: path || id } }));
}

/** Show the API's problem+json errors next to the fields they name; the rest in `fallback`. */
export function showFieldErrors(root, problem, fallback) {
  for (const el of root.querySelectorAll("[data-error-for]")) el.textContent = "";
  for (const el of root.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const unplaced = [];
  let first = null;
  for (const err of (problem && problem.errors) || []) {
    const path = err.field || "";
    const slot = findSlot(root, path);
    if (slot) {
      slot.textContent = slot.textContent ? `${slot.textContent} ${err.message}` : err.message;
      const input = root.querySelector(`[data-field="${cssEscape(slotPath(slot))}"]`);
      if (input) { input.setAttribute("aria-invalid", "true"); first = first || input; }
    } else {
      unplaced.push(path ? `${path}: ${err.message}` : err.message);
    }
  }
  if (fallback) {
    fallback.replaceChildren();
    if (unplaced.length || (problem && !(problem.errors || []).length)) {
      fill(fallback, h("p", {}, problem.detail || problem.title || "The request was refused."),
        unplaced.length ? h("ul", {}, unplaced.map((m) => h("li", {}, m))) : null);
    }
  }
  if (first) first.focus();
  return first;
}

function slotPath(slot) { return slot.dataset.errorFor; }

/** The error slot for `rules.caller_ids.numbers.1` is the nearest declared ancestor path. */
function findSlot(root, path) {
  let p = path;
  while (p) {
    const slot = root.querySelector(`[data-error-for="${cssEscape(p)}"]`);
    if (slot) return slot;
    const cut = p.lastIndexOf(".");
    if (cut < 0) break;
    p = p.slice(0, cut);
  }
  return null;
}

function cssEscape(s) { return window.CSS && CSS.escape ? CSS.escape(s) : s.replace(/"/g, '\\"'); }

export function problemText(problem) {
  if (!problem) return "The request failed.";
  const lines = [problem.detail || problem.title || `HTTP ${problem.status}`];
  for (const e of problem.errors || []) lines.push(`${e.field || ""}${e.row ? ` row ${e.row}` : ""}: ${e.message}`);
  return lines.join(" ");
}

/** replaceChildren that takes nested lists and skips null/false (conditional parts). */
export function fill(el, ...kids) {
  el.replaceChildren(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false)
    .map((k) => (k instanceof Node ? k : document.createTextNode(String(k)))));
}

const DAY_SHORT = { mon: "Mon", tue: "Tue", wed: "Wed", thu: "Thu", fri: "Fri", sat: "Sat", sun: "Sun" };

function windowText(w) {
  if (Array.isArray(w)) return w.map(windowText).join(", ");
  return w && typeof w === "object" && "start" in w ? `${w.start}–${w.end}` : JSON.stringify(w);
}

/** A URL's host (and port), or the URL itself when it cannot be parsed. */
function urlHost(url) {
  try { return new URL(url).host || String(url); } catch { return String(url); }
}

/** A rule's value as a person reads it (the API's normalised rules, any field). */
export function ruleText(key, value) {
  // An unset rule says so: a blank cell reads as "not loaded" (issue 24.7).
  if (value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length)) return "none";
  if (key === "ends_at") return `${when(typeof value === "number" ? new Date(value).toISOString() : value)} (no call from then on)`;
  if (key === "voicemail" && typeof value === "object") return value.action === "leave_message" ? `leave a message on ${value.on === "every" ? "every attempt" : "the last attempt"}: “${value.message}”` : "hang up";
  if (key === "predial" && typeof value === "object") return `${urlHost(value.url)} (timeout ${value.timeout_ms ?? 2000} ms; on error: ${value.on_error || "skip"})`;
  if (key === "priority") return `${value} of 10 (higher calls first when the account's lines are scarce)`;
  if (key === "attempt_limits" && Array.isArray(value)) return value.map((l) => `at most ${l.max_calls} calls per ${l.scope} in ${l.period_hours} h${l.across === "account" ? " across the account's campaigns" : ""}`).join("; ");
  if (key === "calling_days" && Array.isArray(value)) return value.map((d) => DAY_SHORT[d] || d).join(", ");
  if (key === "calling_window") return windowText(value);
  if (key === "caller_ids" && typeof value === "object") return `${value.strategy}: ${(value.numbers || []).join(", ")}`;
  if (key === "contact_local_time" && typeof value === "object") return value.enabled ? `contact's local time ${windowText(value.window)}` : "off";
  if (key === "calling_hours" && typeof value === "object") return Object.entries(value).map(([d, w]) => `${DAY_SHORT[d] || d} ${windowText(w)}`).join("; ");
  if (key === "holidays" && typeof value === "object") return [value.country, value.subdivision].filter(Boolean).join("-");
  if (key === "retry_delay_minutes" || key === "max_call_minutes") return `${value} min`;
  if (Array.isArray(value)) return value.join(", ");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}
