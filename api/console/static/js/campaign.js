// A campaign's page: live progress (polled every 2 s while it moves), charts from
// /stats, what the calls cost from /analytics, the contacts table, CSV export, duplicate
// and the lifecycle buttons.
import { api, ApiError, apiKey } from "./api.js";
import { actionBar } from "./actions.js";
import { outcomesChart, rateTable } from "./charts.js";
import { STATUS_LABELS, announce, field, fill, h, mount, pct, ruleText, statusBadge, timeEl } from "./ui.js";

const POLL_MS = 2000;
const CONTACT_STATUSES = ["pending", "reached", "exhausted", "failed", "cancelled", "suppressed", "opted_out", "expired", "skipped"];
const FINAL = new Set(["completed", "cancelled"]);

export async function campaignPage(id) {
  const path = `/campaigns/${encodeURIComponent(id)}`;
  let campaign;
  try {
    campaign = await api(path);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      mount(h("h1", {}, "Campaign not found"), h("p", {}, `No campaign ${id} in this account. `, h("a", { href: "#/campaigns" }, "Back to campaigns")));
      return null;
    }
    throw e;
  }
  const title = h("h1", {}, campaign.name || id);
  const badgeHost = h("span", { "data-testid": "status" });
  const actionsHost = h("div");
  const live = h("p", { class: "live-line", "aria-live": "polite", "data-testid": "live-line" });
  const progressHost = h("section", { class: "card", "aria-labelledby": "prog-h" });
  const chartHost = h("div");
  const ratesHost = h("div", { class: "grid2" });
  const costHost = h("section", { class: "card", "aria-labelledby": "cost-h", "data-testid": "cost" });
  const statusFilter = h("select", { id: "contact-status", onchange: () => loadContacts(true) },
    h("option", { value: "" }, "All"), CONTACT_STATUSES.map((st) => h("option", { value: st }, st)));
  const contactsHost = h("div", { class: "table-wrap" });
  const moreBtn = h("button", { type: "button", hidden: true, onclick: () => loadContacts(false) }, "Load more contacts");
  let contacts = [];
  let cursor = null;
  let paged = false;

  async function loadContacts(reset) {
    const st = statusFilter.value;
    if (reset) { contacts = []; cursor = null; paged = false; } else paged = true;
    const page = await api(`${path}/contacts?limit=50${st ? `&status=${st}` : ""}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    contacts = reset ? page.items : contacts.concat(page.items);
    cursor = page.next_cursor;
    moreBtn.hidden = !cursor;
    fill(contactsHost, contacts.length ? h("table", { class: "contacts", "data-testid": "contacts-table" },
      h("caption", { class: "visually-hidden" }, "Contacts"),
      h("thead", {}, h("tr", {}, ["Contact", "Row", "Number", "Agent", "Status", "Attempts", "Last outcome", "Next attempt"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, contacts.map((c) => h("tr", { dataset: { status: c.status } },
        h("th", { scope: "row" }, c.contact_id), h("td", {}, String(c.row ?? "")),
        h("td", {}, c.phone_last4 ? `…${c.phone_last4}` : "–"),
        h("td", { "data-col": "agent" }, c.agent_id || "the campaign's"), h("td", {}, c.status),
        h("td", { "data-col": "attempts" }, String(c.attempts ?? 0)), h("td", {}, c.last_outcome || "–"),
        h("td", {}, timeEl(c.next_attempt_at)))))) : h("p", { class: "muted" }, "No contact with this status."));
  }

  function renderProgress(c) {
    const k = c.counters || {};
    const total = k.contacts_total || 0;
    const done = k.contacts_final || 0;
    const byStatus = k.contacts_by_status || {};
    const inFlight = k.calls_in_flight || 0;
    const limit = k.concurrency_limit || (c.rules && c.rules.concurrent_calls) || 0;
    fill(progressHost, 
      h("h2", { id: "prog-h" }, "Progress"),
      h("div", { class: "progress-big" },
        h("progress", { max: Math.max(total, 1), value: done, "aria-label": "Contacts done" }),
        h("span", { "data-testid": "done-total" }, `${done} / ${total} contacts done`)),
      h("dl", { class: "facts cols" },
        h("dt", {}, "Answer rate"), h("dd", { "data-testid": "answer-rate" }, pct(k.answer_rate)),
        h("dt", {}, "Calls created"), h("dd", { "data-testid": "calls-created" }, String(k.calls_created ?? 0)),
        h("dt", {}, "Calls in flight"), h("dd", {}, h("meter", { min: 0, max: Math.max(limit, 1), value: inFlight, "aria-label": "Calls in flight against the limit" }),
          h("span", { "data-testid": "in-flight" }, ` ${inFlight} of ${limit}`)),
        h("dt", {}, "Callbacks due"), h("dd", { "data-testid": "callbacks-due" }, String(k.callbacks_waiting ?? 0),
          k.next_callback_at ? [", next ", timeEl(k.next_callback_at)] : null),
        h("dt", {}, "Estimated completion"), h("dd", {}, c.estimated_completion_at ? timeEl(c.estimated_completion_at) : "–"),
        h("dt", {}, "Last activity"), h("dd", {}, timeEl(c.last_activity_at)),
        h("dt", {}, "Created"), h("dd", {}, timeEl(c.created_at)),
        c.start_at ? [h("dt", {}, "Scheduled start"), h("dd", {}, timeEl(c.start_at))] : null),
      h("h3", {}, "Contacts by status"),
      h("ul", { class: "status-counts", "data-testid": "contacts-by-status" },
        CONTACT_STATUSES.map((st) => h("li", { dataset: { status: st } }, h("span", { class: "count" }, String(byStatus[st] || 0)), ` ${st}`))),
      k.outcomes ? [h("h3", {}, "Outcomes"), h("ul", { class: "status-counts", "data-testid": "outcomes" },
        Object.entries(k.outcomes).map(([o, n]) => h("li", { dataset: { outcome: o } }, h("span", { class: "count" }, String(n)), ` ${o}`)))] : null);
    const line = `${STATUS_LABELS[c.status] || c.status}: ${done} of ${total} contacts done, ${inFlight} calls in flight.`;
    if (live.textContent !== line) live.textContent = line;
  }

  function renderHead(c) {
    fill(badgeHost, statusBadge(c.status));
    fill(actionsHost, actionBar(c, async () => { await refresh(); }));
  }

  async function refreshStats() {
    try {
      const stats = await api(`${path}/stats`);
      fill(chartHost, h("h2", {}, "Outcomes over time"), outcomesChart(stats));
      fill(ratesHost, 
        rateTable("Answer rate by caller ID", "Caller ID", stats.by_caller_id, (r) => r.caller_id, "by-caller-id"),
        rateTable("Answer rate by attempt", "Attempt", stats.by_attempt, (r) => r.attempt, "by-attempt"));
    } catch (e) {
      fill(chartHost, h("p", { class: "muted" }, `Statistics unavailable: ${e.message}`));
    }
  }

  // What the calls cost, priced in ClickHouse (GET .../analytics); money is decimal text.
  function table(caption, testid, heads, rows) {
    return h("div", { class: "table-wrap" }, h("table", { class: "rates", "data-testid": testid },
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, heads.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map((cells) => h("tr", {}, h("th", { scope: "row" }, cells[0]),
        cells.slice(1).map((v) => h("td", {}, v)))))));
  }

  async function refreshCost() {
    try {
      const a = await api(`${path}/analytics`);
      const cur = (c) => c || "no rate";
      fill(costHost, h("h2", { id: "cost-h" }, "What the calls cost, caller-ID health"),
        a.cost.length ? table("Minutes and cost", "cost-by-currency", ["Currency", "Calls", "Billed minutes", "Cost", "Per reached contact"],
          a.cost.map((c) => [cur(c.currency), String(c.calls), c.billed_minutes, c.cost, c.cost_per_reached_contact ?? "–"]))
          : h("p", { class: "muted" }, "No finished call yet."),
        a.cost_by_caller_id.length ? table("Cost by caller ID", "cost-by-caller-id", ["Caller ID", "Currency", "Calls", "Billed minutes", "Cost"],
          a.cost_by_caller_id.map((c) => [c.caller_id, cur(c.currency), String(c.calls), c.billed_minutes, c.cost])) : null,
        a.caller_id_health.length ? table("Caller-ID health (last 200 calls each)", "caller-id-health",
          ["Caller ID", "Recent calls", "Answer rate", "Campaign median", "Health"],
          a.caller_id_health.map((c) => [c.caller_id, String(c.recent_calls), pct(c.recent_answer_rate), pct(c.campaign_median_answer_rate),
            c.degraded ? h("strong", { class: "error" }, "Degraded: under half the median (spam label?)") : "OK"])) : null);
    } catch (e) {
      fill(costHost, h("h2", { id: "cost-h" }, "What the calls cost"), h("p", { class: "muted" }, `Cost unavailable: ${e.message}`));
    }
  }

  let lastStatus = campaign.status;
  let lastActions = JSON.stringify(campaign.allowed_actions || []);
  async function refresh() {
    campaign = await api(path);
    const actions = JSON.stringify(campaign.allowed_actions || []);
    if (campaign.status !== lastStatus) announce(`Campaign is now ${STATUS_LABELS[campaign.status] || campaign.status}.`);
    // The buttons are redrawn only when they change, so focus and a refusal stay put.
    if (campaign.status !== lastStatus || actions !== lastActions) renderHead(campaign);
    lastStatus = campaign.status;
    lastActions = actions;
    renderProgress(campaign);
    await Promise.all([refreshStats(), refreshCost()]);
    if (!paged) await loadContacts(true);
  }

  const dupId = h("input", { type: "text", value: `${id}-copy`, required: true });
  const dupName = h("input", { type: "text", value: `${campaign.name || id} (copy)` });
  const dupOnly = h("input", { type: "checkbox" });
  const dupMsg = h("p", { class: "error", role: "alert" });
  const duplicate = h("details", { class: "duplicate" }, h("summary", {}, "Duplicate"),
    h("form", { onsubmit: async (ev) => {
      ev.preventDefault();
      dupMsg.textContent = "";
      try {
        const res = await api(`${path}/duplicate`, { method: "POST", body: { campaign_id: dupId.value.trim(), name: dupName.value.trim(), only_unreached: dupOnly.checked } });
        location.hash = `#/campaigns/${encodeURIComponent(res.campaign_id || dupId.value.trim())}`;
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        dupMsg.textContent = [e.problem.detail || e.message, ...(e.problem.errors || []).map((x) => x.message)].join(" ");
      }
    } },
    field("New campaign ID", dupId, { field: "campaign_id" }), field("New name", dupName, { field: "name" }),
    h("label", { class: "block" }, dupOnly, " Only contacts not reached"),
    dupMsg, h("button", { type: "submit" }, "Create the copy as a draft")));
  const exportBtn = h("button", { type: "button", "data-testid": "export", onclick: async () => {
    const res = await fetch(`/v1${path}/export.csv`, { headers: { Authorization: `Bearer ${apiKey()}` } });
    if (!res.ok) { announce("Export failed."); return; }
    const url = URL.createObjectURL(await res.blob());
    const a = h("a", { href: url, download: `${id}-contacts.csv` });
    document.body.append(a); a.click(); a.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 5000);
  } }, "Export contacts (CSV)");

  mount(
    h("p", { class: "crumbs" }, h("a", { href: "#/campaigns" }, "Campaigns"), " / ", id),
    h("div", { class: "page-head" }, title, badgeHost),
    campaign.description ? h("p", {}, campaign.description) : null,
    h("div", { class: "toolbar wrap" }, actionsHost, exportBtn, duplicate),
    live,
    progressHost,
    h("section", { class: "card", "aria-label": "Charts" }, chartHost, ratesHost),
    costHost,
    h("section", { class: "card", "aria-labelledby": "contacts-h" },
      h("h2", { id: "contacts-h" }, "Contacts"),
      h("div", { class: "toolbar" }, h("label", { for: "contact-status" }, "Status"), statusFilter),
      contactsHost, moreBtn),
    h("section", { class: "card", "aria-labelledby": "rules-h" }, h("h2", { id: "rules-h" }, "Rules"),
      h("dl", { class: "facts", "data-testid": "campaign-rules" }, Object.entries(campaign.rules || {}).map(([k2, v]) => [h("dt", {}, k2.replace(/_/g, " ")), h("dd", { dataset: { rule: k2 } }, ruleText(k2, v))]),
        h("dt", {}, "pre-dial check"), h("dd", { dataset: { rule: "predial" } }, ruleText("predial", campaign.predial))),
      h("p", { class: "muted" }, `Agent ${campaign.agent_id || "–"}, source number ${campaign.source_number || "–"}.`)),
  );
  renderHead(campaign);
  renderProgress(campaign);
  await Promise.all([refreshStats(), refreshCost(), loadContacts(true)]);
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    try {
      if (!FINAL.has(campaign.status) || campaign.counters?.calls_in_flight) await refresh();
    } catch { /* a missed poll is retried on the next tick */ }
    if (!stopped) timer = window.setTimeout(tick, POLL_MS);
  };
  timer = window.setTimeout(tick, POLL_MS);
  return () => { stopped = true; window.clearTimeout(timer); };
}
