// API keys: the account's keys by prefix and creation time; create (the key shown once), revoke.
import { api, ApiError } from "./api.js";
import { announce, fill, h, mount, problemText, timeEl } from "./ui.js";

export async function keysPage() {
  const list = h("div", { id: "key-list" }, h("p", {}, "Loading…"));
  const created = h("div", { id: "new-key", role: "status" });
  const msg = h("p", { class: "error", role: "alert", id: "keys-msg" });

  async function load() {
    const out = await api("/account/keys");
    fill(list, keyTable(out.items, load, msg));
  }

  mount(
    h("div", { class: "page-head" }, h("h1", {}, "API keys"),
      h("button", { type: "button", class: "primary", id: "create-key", onclick: async () => {
        msg.textContent = "";
        try {
          const key = await api("/account/keys", { method: "POST" });
          fill(created, newKeyCard(key));
          created.querySelector("input").focus();
          await load();
        } catch (e) {
          msg.textContent = e instanceof ApiError ? problemText(e.problem) : e.message;
        }
      } }, "Create key")),
    h("p", { class: "muted" }, "A key acts for this account through the API and this console. Keep it secret; revoke a key you no longer use."),
    created, msg,
    h("section", { class: "card", "aria-labelledby": "keys-h" }, h("h2", { id: "keys-h" }, "Keys"), list),
  );
  await load();
  return null;
}

function newKeyCard(key) {
  const input = h("input", { id: "new-key-value", readonly: true, value: key.key, spellcheck: "false", autocomplete: "off", "data-secret": true });
  return h("div", { class: "card" },
    h("h2", {}, "New key created"),
    h("p", { class: "warn" }, "Copy it now: it is shown only once."),
    h("div", { class: "field" }, h("label", { for: "new-key-value" }, `Key ${key.key_id}`), input),
    h("button", { type: "button", onclick: async () => {
      input.select();
      try { await navigator.clipboard.writeText(key.key); announce("Key copied."); } catch { announce("Select the key and copy it."); }
    } }, "Copy"));
}

function keyTable(items, reload, msg) {
  return h("div", { class: "table-wrap" }, h("table", { id: "keys-table" },
    h("caption", { class: "visually-hidden" }, "API keys of this account"),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Key"), h("th", { scope: "col" }, "Created"),
      h("th", { scope: "col" }, "Status"), h("th", { scope: "col" }, "Actions"))),
    h("tbody", {}, items.map((k) => h("tr", { dataset: { keyId: k.key_id } },
      h("th", { scope: "row" }, h("code", {}, `${k.prefix}…`)),
      h("td", {}, timeEl(k.created_at)),
      h("td", { "data-testid": "key-status" }, k.revoked_at ? ["Revoked ", timeEl(k.revoked_at)] : "Live"),
      h("td", {}, k.revoked_at ? "" : revokeControl(k, reload, msg)))))));
}

/** Revoke asks once more inline (no dialog): the key stops working at once. */
function revokeControl(k, reload, msg) {
  const cell = h("div", { class: "buttons" });
  const ask = h("button", { type: "button", class: "danger", "aria-label": `Revoke ${k.prefix}`, onclick: () => {
    fill(cell, h("span", {}, `Revoke ${k.prefix}…? It stops working at once. `),
      h("button", { type: "button", class: "danger", onclick: async () => {
        msg.textContent = "";
        try {
          await api(`/account/keys/${encodeURIComponent(k.key_id)}`, { method: "DELETE" });
          announce(`Key ${k.prefix} revoked.`);
        } catch (e) {
          msg.textContent = e instanceof ApiError ? problemText(e.problem) : e.message;
        }
        await reload();
      } }, "Yes, revoke"),
      h("button", { type: "button", onclick: () => fill(cell, ask) }, "Keep"));
    cell.querySelector("button").focus();
  } }, "Revoke");
  fill(cell, ask);
  return cell;
}
