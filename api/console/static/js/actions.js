// Lifecycle buttons: only the actions the campaign's status allows (a draft's "Edit" opens
// the wizard on it), and the engine's reason (the API's problem detail) shown beside them
// when it refuses.
import { api, ApiError } from "./api.js";
import { refreshAccount } from "./session.js";
import { announce, h } from "./ui.js";

const LABELS = { start: "Start", schedule: "Schedule", pause: "Pause", resume: "Resume", cancel: "Cancel" };
const ORDER = ["start", "schedule", "pause", "resume", "cancel"];
// The last refusal per campaign: a refreshed list or page redraws the bar, and the reason
// must stay readable (for 30 s) rather than vanish with the old buttons.
const refusals = new Map();
const KEEP_MS = 30000;

export function actionBar(campaign, onDone) {
  const message = h("p", { class: "action-msg", role: "alert", "data-testid": "action-message" });
  const kept = refusals.get(campaign.campaign_id);
  if (kept && Date.now() - kept.at < KEEP_MS) message.textContent = kept.text;
  const allowed = new Set(campaign.allowed_actions || []);
  const name = campaign.name || campaign.campaign_id;

  async function run(action, body) {
    message.textContent = "";
    refusals.delete(campaign.campaign_id);
    try {
      const res = await api(`/campaigns/${encodeURIComponent(campaign.campaign_id)}/${action}`, { method: "POST", body });
      announce(`${name}: ${LABELS[action].toLowerCase()} accepted, now ${res.status}.`);
      if (onDone) await onDone(action, res);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      message.textContent = `${LABELS[action]} refused: ${e.problem.detail || e.message}`;
      refusals.set(campaign.campaign_id, { text: message.textContent, at: Date.now() });
      if (e.status === 402) refreshAccount();
    }
  }

  const buttons = ORDER.filter((a) => allowed.has(a)).map((action) => {
    if (action === "schedule") return scheduleControl(campaign, run);
    return h("button", {
      type: "button", class: action === "cancel" ? "danger" : action === "start" || action === "resume" ? "primary" : "",
      "data-action": action, "aria-label": `${LABELS[action]} ${name}`,
      onclick: async (ev) => {
        if (action === "cancel" && !window.confirm(`Cancel ${name}? Pending contacts will not be called.`)) return;
        const button = ev.currentTarget;
        button.disabled = true;
        try { await run(action); } finally { button.disabled = false; }
      },
    }, LABELS[action]);
  });
  if (allowed.has("edit")) {
    buttons.unshift(h("a", { class: "button", href: `#/edit/${encodeURIComponent(campaign.campaign_id)}/1`,
      "data-action": "edit", "aria-label": `Edit ${name}` }, "Edit"));
  }
  return h("div", { class: "actions" }, h("div", { class: "buttons" }, buttons), message);
}

function scheduleControl(campaign, run) {
  const input = h("input", { type: "datetime-local", "aria-label": `Start time for ${campaign.name || campaign.campaign_id} (your local time)`, required: true });
  const details = h("details", { class: "schedule" },
    h("summary", { "data-action": "schedule" }, "Schedule"),
    h("form", { onsubmit: async (ev) => {
      ev.preventDefault();
      if (!input.value) return;
      await run("schedule", { start_at: new Date(input.value).toISOString() });
    } }, input, h("button", { type: "submit" }, "Schedule start")));
  return details;
}
