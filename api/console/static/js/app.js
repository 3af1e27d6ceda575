// The console's shell: sign-in, the sidebar, the subscription banner and a hash router.
import { api, ApiError, apiKey, setApiKey } from "./api.js";
import { h, mount, fill } from "./ui.js";
import { campaignsPage } from "./campaigns.js";
import { campaignPage } from "./campaign.js";
import { wizardPage } from "./wizard.js";
import { subscriptionPage } from "./settings.js";
import { dncPage } from "./dnc.js";
import { keysPage } from "./keys.js";
import { linesPage } from "./lines.js";
import { connectShell, session, subscriptionActive } from "./session.js";
import { agentsPage, numbersPage } from "./resources.js";
import { webhooksPage } from "./webhooks.js";
import { analyticsPage } from "./analytics.js";

let stopCurrent = null;

async function loadAccount() {
  session.account = await api("/account");
  document.getElementById("account").textContent = `${session.account.name} (${session.account.account_id})`;
  document.getElementById("signout").hidden = false;
  document.getElementById("sidebar").hidden = false;
  renderBanner();
  return session.account;
}

function renderBanner() {
  const banner = document.getElementById("banner");
  fill(banner, );
  if (session.account && !subscriptionActive()) {
    const sub = session.account.subscription || {};
    banner.append(h("div", { class: "banner", role: "status", "data-testid": "subscription-banner" },
      h("strong", {}, "Your subscription is not active. "),
      `Campaigns cannot be started or scheduled${sub.reason ? ` (${sub.reason})` : ""}. `,
      h("a", { href: "#/settings/subscription" }, "Check your plan in Settings → Subscription")));
  }
}

function signInPage(message) {
  const input = h("input", { id: "api-key", type: "password", autocomplete: "off", required: true, spellcheck: "false" });
  const err = h("p", { class: "error", id: "signin-err", role: "alert" }, message || "");
  input.setAttribute("aria-describedby", "signin-err");
  const form = h("form", { class: "card narrow", onsubmit: async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    try {
      await api("/account", { key: input.value.trim() });
      setApiKey(input.value.trim());
      await loadAccount();
      if (!location.hash || location.hash.startsWith("#/signin")) location.hash = "#/campaigns";
      else route();
    } catch (e) {
      err.textContent = e instanceof ApiError && e.status === 401
        ? "That key was not accepted. Check it and try again."
        : `Sign-in failed: ${e.message}`;
      input.focus();
    }
  } },
  h("h1", {}, "Sign in"),
  h("p", {}, "Enter your account's API key. It is kept for this browser tab only."),
  h("div", { class: "field" }, h("label", { for: "api-key" }, "API key"), input),
  err,
  h("button", { type: "submit", class: "primary" }, "Sign in"));
  document.getElementById("sidebar").hidden = true;
  mount(form);
  input.focus();
}

function markNav(name) {
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === name) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
}

async function route() {
  if (stopCurrent) { stopCurrent(); stopCurrent = null; }
  if (!apiKey()) { signInPage(); return; }
  if (!session.account) {
    try { await loadAccount(); } catch { setApiKey(null); signInPage("Your session has ended; sign in again."); return; }
  }
  const hash = location.hash.replace(/^#/, "") || "/campaigns";
  const parts = hash.split("?")[0].split("/").filter(Boolean);
  const query = new URLSearchParams(hash.split("?")[1] || "");
  renderBanner();
  try {
    if (parts[0] === "new") {
      markNav("new");
      stopCurrent = await wizardPage(Number(parts[1] || 1));
    } else if (parts[0] === "edit" && parts[1]) {
      markNav("campaigns");
      stopCurrent = await wizardPage(Number(parts[2] || 1), decodeURIComponent(parts[1]));
    } else if (parts[0] === "campaigns" && parts[1]) {
      markNav("campaigns");
      stopCurrent = await campaignPage(decodeURIComponent(parts[1]));
    } else if (parts[0] === "dnc") {
      markNav("dnc");
      stopCurrent = await dncPage();
    } else if (parts[0] === "analytics") {
      markNav("analytics");
      stopCurrent = await analyticsPage();
    } else if (parts[0] === "agents") {
      markNav("agents");
      stopCurrent = await agentsPage();
    } else if (parts[0] === "numbers") {
      markNav("numbers");
      stopCurrent = await numbersPage();
    } else if (parts[0] === "webhooks") {
      markNav("webhooks");
      stopCurrent = await webhooksPage();
    } else if (parts[0] === "keys") {
      markNav("keys");
      stopCurrent = await keysPage();
    } else if (parts[0] === "settings" && parts[1] === "lines") {
      markNav("lines");
      stopCurrent = await linesPage();
    } else if (parts[0] === "settings") {
      markNav("settings");
      await loadAccount();
      stopCurrent = await subscriptionPage();
    } else {
      markNav("campaigns");
      stopCurrent = await campaignsPage(query.get("status") || "");
    }
  } catch (e) {
    mount(h("h1", {}, "Something went wrong"), h("p", { role: "alert" }, e.message));
  }
  document.title = `${document.querySelector("#view h1")?.textContent || "Console"} · campaignflow`;
}

connectShell({ route, loadAccount });

window.addEventListener("hashchange", route);
window.addEventListener("cf:unauthorized", () => { setApiKey(null); session.account = null; signInPage("Your key is no longer accepted; sign in again."); });
document.getElementById("signout").addEventListener("click", () => {
  setApiKey(null);
  session.account = null;
  document.getElementById("signout").hidden = true;
  document.getElementById("account").textContent = "";
  document.getElementById("banner").replaceChildren();
  location.hash = "#/signin";
  signInPage();
});
route();
