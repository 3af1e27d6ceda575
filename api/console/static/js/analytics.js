// Analytics: the account's calls over a period (today, 7 days, 30 days, custom) from
// ClickHouse through GET /v1/analytics (fixed queries; no SQL leaves the browser). Every
// chart has its data as a table; the bucket (hour, day, week) is the API's, from the period.
import { api, ApiError } from "./api.js";
import { barChart, outcomesChart, rateTable } from "./charts.js";
import { fill, h, mount, pct, problemText } from "./ui.js";

const PERIODS = [["today", "Today"], ["7d", "Last 7 days"], ["30d", "Last 30 days"], ["custom", "Custom dates"]];
const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const BUCKET_SECONDS = { hour: 3600, day: 86400, week: 604800 };
const ANSWERED = "#1f7a3f";
const OTHER = "#9aa5b1";

function browserZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch { return "UTC"; }
}

export async function analyticsPage() {
  const out = h("div", { id: "analytics-out" }, h("p", {}, "Loading…"));
  const msg = h("p", { class: "error", role: "alert", id: "analytics-msg" });
  const period = h("select", { id: "analytics-period" }, PERIODS.map(([v, t]) => h("option", { value: v, selected: v === "7d" }, t)));
  const from = h("input", { type: "date", id: "analytics-from" });
  const to = h("input", { type: "date", id: "analytics-to" });
  const custom = h("span", { class: "toolbar", hidden: true },
    h("label", { for: "analytics-from" }, "From"), from, h("label", { for: "analytics-to" }, "To"), to);
  const tz = browserZone();
  async function load() {
    const params = new URLSearchParams({ period: period.value, tz });
    if (period.value === "custom") { params.set("from", from.value); params.set("to", to.value); }
    msg.textContent = "";
    try {
      fill(out, render(await api(`/analytics?${params}`)));
    } catch (e) {
      fill(out);
      msg.textContent = e instanceof ApiError ? problemText(e.problem) : e.message;
    }
  }
  period.addEventListener("change", () => { custom.hidden = period.value !== "custom"; if (period.value !== "custom") load(); });
  const form = h("form", { class: "toolbar", "aria-label": "Choose the period", onsubmit: (ev) => { ev.preventDefault(); load(); } },
    h("label", { for: "analytics-period" }, "Period"), period, custom,
    h("button", { type: "submit" }, "Show"),
    h("span", { class: "hint" }, `Days, hours and weekdays in ${tz}.`));
  mount(h("div", { class: "page-head" }, h("h1", {}, "Analytics")), form, msg, out);
  await load();
  return null;
}

function render(a) {
  const t = a.totals;
  return [
    h("section", { class: "card", "aria-labelledby": "an-totals-h" },
      h("h2", { id: "an-totals-h" }, "Totals"),
      h("ul", { class: "status-counts" },
        stat("Calls", t.calls, "total-calls"), stat("Answered", t.answered, "total-answered"),
        stat("Answer rate", pct(t.answer_rate), "total-rate"), stat("Talk minutes", t.talk_minutes, "total-minutes"))),
    h("section", { class: "card", "aria-labelledby": "an-time-h" },
      h("h2", { id: "an-time-h" }, `Calls by ${a.period.bucket}`),
      timelineChart(a), outcomesChart(outcomeStats(a))),
    h("section", { class: "card", "aria-labelledby": "an-when-h" },
      h("h2", { id: "an-when-h" }, "When people answer"),
      barChart({ title: "Calls by hour of day", keyLabel: "Hour", testid: "by-hour",
        labels: a.by_hour.map((r) => `${String(r.hour).padStart(2, "0")}:00`), series: answeredSeries(a.by_hour) }),
      barChart({ title: "Calls by weekday", keyLabel: "Weekday", testid: "by-weekday",
        labels: a.by_weekday.map((r) => WEEKDAYS[r.weekday - 1]), series: answeredSeries(a.by_weekday) })),
    h("section", { class: "card", "aria-labelledby": "an-camp-h" },
      h("h2", { id: "an-camp-h" }, "Campaigns compared"), campaignsTable(a.campaigns)),
    h("section", { class: "card", "aria-labelledby": "an-cid-h" },
      h("h2", { id: "an-cid-h" }, "Caller IDs"),
      rateTable("Answer rate by caller ID", "Caller ID", a.caller_ids, (r) => r.caller_id || "none", "caller-ids")),
  ];
}

function stat(label, value, testid) {
  return h("li", {}, h("span", { class: "count", "data-testid": testid }, String(value)), ` ${label}`);
}

function answeredSeries(rows) {
  return [
    { name: "answered", values: rows.map((r) => r.answered), color: ANSWERED },
    { name: "not answered", values: rows.map((r) => r.calls - r.answered), color: OTHER },
  ];
}

function timelineChart(a) {
  const rows = a.timeline;
  const chart = barChart({ title: `Calls and answers by ${a.period.bucket}`, keyLabel: a.period.bucket, testid: "timeline",
    labels: rows.map((r) => r.bucket.slice(a.period.bucket === "hour" ? 5 : 0, a.period.bucket === "hour" ? 16 : 10)),
    series: answeredSeries(rows) });
  const table = h("div", { class: "table-wrap" }, h("table", { "data-testid": "timeline-table" },
    h("caption", {}, `Calls, answers and talk minutes by ${a.period.bucket}`),
    h("thead", {}, h("tr", {}, ["Start", "Calls", "Answered", "Answer rate", "Talk minutes"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, h("th", { scope: "row" }, r.bucket),
      h("td", {}, String(r.calls)), h("td", {}, String(r.answered)), h("td", {}, pct(r.answer_rate)), h("td", {}, String(r.talk_minutes)))))));
  return [chart, table];
}

/** The outcome rows in the campaign page chart's shape (one row a bucket, a count a status). */
function outcomeStats(a) {
  const byBucket = new Map();
  for (const o of a.outcomes) {
    const at = o.bucket.length === 10 ? `${o.bucket}T00:00:00` : o.bucket.replace(" ", "T");
    if (!byBucket.has(at)) byBucket.set(at, { at });
    byBucket.get(at)[o.status] = o.calls;
  }
  return { outcomes_over_time: [...byBucket.values()], bucket_seconds: BUCKET_SECONDS[a.period.bucket] };
}

function campaignsTable(rows) {
  if (!rows.length) return h("p", { class: "muted" }, "No campaign called in this period.");
  return h("div", { class: "table-wrap" }, h("table", { "data-testid": "campaigns-compared" },
    h("caption", { class: "visually-hidden" }, "Campaigns with calls in this period"),
    h("thead", {}, h("tr", {}, ["Campaign", "Status", "Contacts", "Reached", "Exhausted", "Calls", "Answer rate", "Attempts per reached contact"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((r) => h("tr", { dataset: { campaign: r.campaign_id } },
      h("th", { scope: "row" }, h("a", { href: `#/campaigns/${encodeURIComponent(r.campaign_id)}` }, r.name || r.campaign_id)),
      h("td", {}, r.status), h("td", {}, String(r.contacts)), h("td", {}, String(r.reached)),
      h("td", {}, String(r.exhausted)), h("td", {}, String(r.calls)), h("td", {}, pct(r.answer_rate)),
      h("td", {}, r.attempts_per_reached == null ? "none" : String(r.attempts_per_reached)))))));
}
