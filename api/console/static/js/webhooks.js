// Webhooks: the account's endpoints with their events; add (the signing secret shown once),
// remove, send a signed test event, and each endpoint's last deliveries (status, attempts).
import { all, api, ApiError } from "./api.js";
import { announce, field, fill, h, mount, problemText, showFieldErrors, timeEl } from "./ui.js";

export async function webhooksPage() {
  const list = h("div", { id: "webhook-list" }, h("p", {}, "Loading…"));
  const created = h("div", { id: "new-webhook", role: "status" });
  const msg = h("p", { class: "error", role: "alert", id: "webhooks-msg" });
  const ctx = { msg, reload: null };
  // The events to choose from are the API's list (GET /v1/webhook-events), kept in one place.
  const events = (await api("/webhook-events")).items.map((e) => [e.name, e.description]);
  ctx.reload = async () => fill(list, await endpoints(ctx, await all("/webhooks")));
  mount(
    h("div", { class: "page-head" }, h("h1", {}, "Webhooks")),
    h("p", { class: "muted" }, "Endpoints that receive this account's campaign events as signed POSTs (header X-Campaignflow-Signature: t=<unix>,v1=<HMAC-SHA256 of \"t.body\">)."),
    msg,
    h("section", { class: "card", "aria-labelledby": "webhooks-h" }, h("h2", { id: "webhooks-h" }, "Endpoints"), list),
    created,
    addForm(ctx, created, events),
  );
  await ctx.reload();
  return null;
}

async function endpoints(ctx, hooks) {
  if (!hooks.length) return h("p", {}, "No endpoint yet: add one below.");
  const cards = [];
  for (const hook of hooks) cards.push(await endpointCard(ctx, hook));
  return cards;
}

async function endpointCard(ctx, hook) {
  const deliveries = h("div", { dataset: { testid: "deliveries" } });
  const testOut = h("p", { role: "status", "data-testid": "test-result" });
  async function loadDeliveries() {
    try {
      fill(deliveries, deliveryTable(hook, (await api(`/webhooks/${encodeURIComponent(hook.webhook_id)}/deliveries`)).items));
    } catch (e) {
      fill(deliveries, h("p", { class: "error" }, e instanceof ApiError ? problemText(e.problem) : e.message));
    }
  }
  const test = h("button", { type: "button", "aria-label": `Send a test event to ${hook.webhook_id}`, onclick: async () => {
    test.disabled = true;
    testOut.textContent = "Sending…";
    try {
      const r = await api(`/webhooks/${encodeURIComponent(hook.webhook_id)}/test`, { method: "POST" });
      testOut.textContent = r.delivered ? `Test event delivered (HTTP ${r.status}).` : `Test event not delivered: ${r.error}.`;
    } catch (e) {
      testOut.textContent = `Not sent: ${e instanceof ApiError ? problemText(e.problem) : e.message}`;
    }
    test.disabled = false;
    await loadDeliveries();
  } }, "Send a test event");
  const actions = h("div", { class: "buttons" });
  const remove = h("button", { type: "button", class: "danger", "aria-label": `Remove ${hook.webhook_id}`, onclick: () => {
    fill(actions, h("span", {}, `Remove ${hook.webhook_id}? It gets no more events. `),
      h("button", { type: "button", class: "danger", onclick: async () => {
        ctx.msg.textContent = "";
        try {
          await api(`/webhooks/${encodeURIComponent(hook.webhook_id)}`, { method: "DELETE" });
          announce(`Webhook ${hook.webhook_id} removed.`);
        } catch (e) {
          ctx.msg.textContent = e instanceof ApiError ? problemText(e.problem) : e.message;
        }
        await ctx.reload();
      } }, "Yes, remove"),
      h("button", { type: "button", onclick: () => fill(actions, test, remove) }, "Keep"));
    actions.querySelector("button").focus();
  } }, "Remove");
  fill(actions, test, remove);
  const headId = `wh-${hook.webhook_id}-h`;
  const card = h("article", { class: "endpoint", "aria-labelledby": headId, dataset: { webhookId: hook.webhook_id } },
    h("h3", { id: headId }, h("code", {}, hook.url)),
    h("dl", { class: "facts" },
      h("dt", {}, "Id"), h("dd", {}, hook.webhook_id),
      h("dt", {}, "Events"), h("dd", {}, hook.events.join(", ")),
      h("dt", {}, "Added"), h("dd", {}, timeEl(hook.created_at))),
    actions, testOut,
    h("h4", {}, "Last deliveries"), deliveries);
  await loadDeliveries();
  return card;
}

function deliveryTable(hook, items) {
  if (!items.length) return h("p", { class: "muted" }, "No delivery yet.");
  return h("div", { class: "table-wrap" }, h("table", { class: "deliveries" },
    h("caption", { class: "visually-hidden" }, `Last deliveries to ${hook.webhook_id}`),
    h("thead", {}, h("tr", {}, ["When", "Event", "Result", "HTTP status", "Attempts", "Event id"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, items.map((d) => h("tr", {},
      h("td", {}, timeEl(d.at)),
      h("td", {}, d.type),
      h("td", { "data-testid": "delivery-result" }, d.delivered ? "Delivered" : `Failed: ${d.error}`),
      h("td", {}, d.status ?? "no answer"),
      h("td", {}, d.attempts),
      h("td", {}, h("code", {}, d.event_id)))))));
}

function addForm(ctx, created, choices) {
  const url = h("input", { id: "webhook-url", type: "url", autocomplete: "off", required: true, placeholder: "https://your-server/campaign-events" });
  const boxes = choices.map(([name]) => h("input", { type: "checkbox", id: `webhook-ev-${name}`, value: name, checked: true }));
  const out = h("div", { class: "form-msg", role: "status" });
  const form = h("form", { class: "card", "aria-labelledby": "webhook-add-h", onsubmit: async (ev) => {
    ev.preventDefault();
    const events = boxes.filter((b) => b.checked).map((b) => b.value);
    try {
      const hook = await api("/webhooks", { method: "POST", body: { url: url.value.trim(), events } });
      out.replaceChildren();
      form.reset();
      for (const b of boxes) b.checked = true;
      fill(created, secretCard(hook));
      created.querySelector("input").focus();
      await ctx.reload();
    } catch (e) {
      showFieldErrors(form, e instanceof ApiError ? e.problem : { detail: e.message }, out);
    }
  } },
  h("h2", { id: "webhook-add-h" }, "Add an endpoint"),
  field("Endpoint URL", url, { field: "url", hint: "A public http(s) address; private and internal addresses are refused." }),
  h("fieldset", { "data-field": "events" }, h("legend", {}, "Events"),
    choices.map(([name, text], i) => h("label", { class: "block" }, boxes[i], ` ${text} (${name})`)),
    h("span", { class: "error", dataset: { errorFor: "events" } })),
  h("button", { type: "submit", class: "primary" }, "Add endpoint"), out);
  return form;
}

function secretCard(hook) {
  const input = h("input", { id: "new-webhook-secret", readonly: true, value: hook.secret, spellcheck: "false", autocomplete: "off", "data-secret": true });
  return h("div", { class: "card" },
    h("h2", {}, "Endpoint added"),
    h("p", { class: "warn" }, "Copy the signing secret now: it is shown only once."),
    h("div", { class: "field" }, h("label", { for: "new-webhook-secret" }, `Signing secret of ${hook.webhook_id}`), input),
    h("button", { type: "button", onclick: async () => {
      input.select();
      try { await navigator.clipboard.writeText(hook.secret); announce("Secret copied."); } catch { announce("Select the secret and copy it."); }
    } }, "Copy"));
}
