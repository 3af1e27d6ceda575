// The Campaigns page: every campaign of the account, filterable by status, with its actions.
import { all } from "./api.js";
import { actionBar } from "./actions.js";
import { STATUS_LABELS, h, mount, pct, statusBadge, timeEl, fill } from "./ui.js";

export async function campaignsPage(status) {
  const filter = h("select", { id: "status-filter", onchange: () => {
    location.hash = filter.value ? `#/campaigns?status=${filter.value}` : "#/campaigns";
  } },
  h("option", { value: "" }, "All statuses"),
  Object.entries(STATUS_LABELS).map(([v, label]) => h("option", { value: v, selected: v === status }, label)));
  const body = h("div", { id: "campaign-list" }, h("p", {}, "Loading…"));
  mount(
    h("div", { class: "page-head" },
      h("h1", {}, "Campaigns"),
      h("a", { class: "button primary", href: "#/new/1" }, "Create campaign")),
    h("div", { class: "toolbar" }, h("label", { for: "status-filter" }, "Status"), filter),
    body,
  );
  let timer = null;
  let stopped = false;
  async function load() {
    const items = await all(`/campaigns${status ? `?status=${status}` : ""}`);
    if (stopped) return;
    fill(body, items.length ? table(items, load) : h("p", {}, status
      ? `No ${STATUS_LABELS[status] || status} campaigns.`
      : "No campaigns yet. Create one to start calling."));
  }
  await load();
  // Running campaigns move: refresh the list every few seconds while one runs (without
  // stealing focus: rows are replaced only when nobody is typing in a schedule form).
  timer = window.setInterval(() => {
    if (document.activeElement && document.activeElement.closest("#campaign-list details[open]")) return;
    if (document.querySelector("#campaign-list [data-status='running']")) load().catch(() => {});
  }, 4000);
  return () => { stopped = true; window.clearInterval(timer); };
}

function table(items, reload) {
  return h("div", { class: "table-wrap" }, h("table", { class: "campaigns" },
    h("caption", { class: "visually-hidden" }, "Campaigns of this account"),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Campaign"), h("th", { scope: "col" }, "Status"),
      h("th", { scope: "col" }, "Contacts done"), h("th", { scope: "col" }, "Answer rate"),
      h("th", { scope: "col" }, "Last activity"), h("th", { scope: "col" }, "Actions"))),
    h("tbody", {}, items.map((c) => row(c, reload)))));
}

function row(c, reload) {
  const counters = c.counters || {};
  const total = counters.contacts_total || 0;
  const done = counters.contacts_final || 0;
  const name = c.name || c.campaign_id;
  return h("tr", { dataset: { campaign: c.campaign_id } },
    h("th", { scope: "row" }, h("a", { href: `#/campaigns/${encodeURIComponent(c.campaign_id)}` }, name),
      h("div", { class: "muted small" }, c.campaign_id)),
    h("td", {}, statusBadge(c.status)),
    h("td", {}, h("div", { class: "progress-cell" },
      h("progress", { max: Math.max(total, 1), value: done, "aria-label": `${name}: ${done} of ${total} contacts done` }),
      h("span", { "data-testid": "done-total" }, `${done} / ${total}`))),
    h("td", { "data-testid": "answer-rate" }, pct(counters.answer_rate)),
    h("td", {}, timeEl(c.last_activity_at)),
    h("td", {}, actionBar(c, reload)));
}
