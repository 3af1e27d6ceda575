// Settings -> Lines (SPEC 8): the account's lines and the inbound cut-off, editable, and the
// lines in use right now by each running campaign and by inbound calls (polled every 2 s).
import { api, ApiError } from "./api.js";
import { announce, field, fill, h, mount, showFieldErrors } from "./ui.js";

const POLL_MS = 2000;

export async function linesPage() {
  const settings = await api("/account/settings");
  const lines = h("input", { type: "number", min: "1", step: "1", value: settings.lines ?? "", placeholder: "no limit" });
  const inbound = h("input", { type: "number", min: "1", step: "any", value: String(settings.inbound_max_minutes) });
  const general = h("div", { class: "form-msg", role: "alert" });
  const usage = h("section", { class: "card", "aria-labelledby": "use-h", "aria-live": "polite" });
  let limit = settings.lines;

  const form = h("form", { class: "card", novalidate: true, onsubmit: async (ev) => {
    ev.preventDefault();
    const body = {
      lines: lines.value.trim() === "" ? null : Number(lines.value),
      inbound_max_minutes: inbound.value.trim() === "" ? null : Number(inbound.value),
    };
    try {
      const saved = await api("/account/settings", { method: "PUT", body });
      showFieldErrors(form, { errors: [] }, general);
      limit = saved.lines;
      fill(general, h("p", { class: "ok", "data-testid": "lines-saved" }, "Saved: the engine applies it at its next step."));
      announce("Line settings saved.");
      renderUsage(saved);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      showFieldErrors(form, e.problem, general);
    }
  } },
  h("h2", { id: "lines-h" }, "Lines"),
  h("p", {}, "The calls your telephony can carry at once, shared by every campaign of the account and by inbound calls. When they are all in use, no campaign places a call; the campaign with the highest priority gets the next free line."),
  h("div", { class: "grid2" },
    field("Lines", lines, { field: "lines", hint: "Empty: no account limit (each campaign keeps its own concurrent calls)." }),
    field("Inbound call cut-off (minutes)", inbound, { field: "inbound_max_minutes", hint: "An inbound call with no end reported frees its line after this long." })),
  general,
  h("button", { type: "submit", class: "primary" }, "Save"));

  function renderUsage(s) {
    const use = s.in_use || { inbound: 0, campaigns: {} };
    const campaigns = Object.entries(use.campaigns || {}).sort(([a], [b]) => a.localeCompare(b));
    const busy = (use.inbound || 0) + campaigns.reduce((n, [, v]) => n + v, 0);
    fill(usage, h("h2", { id: "use-h" }, "Lines in use now"),
      h("p", { "data-testid": "lines-busy" }, limit === null || limit === undefined
        ? `${busy} in use (no account limit).`
        : [h("meter", { min: 0, max: Math.max(limit, 1), value: busy, "aria-label": "Lines in use against the limit" }), ` ${busy} of ${limit} in use.`]),
      h("table", { class: "numbers", "data-testid": "lines-in-use" },
        h("caption", { class: "visually-hidden" }, "Lines in use by campaign and by inbound calls"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Held by"), h("th", { scope: "col" }, "Lines"))),
        h("tbody", {},
          h("tr", { dataset: { holder: "inbound" } }, h("th", { scope: "row" }, "Inbound calls"), h("td", {}, String(use.inbound || 0))),
          campaigns.map(([id, n]) => h("tr", { dataset: { holder: id } },
            h("th", { scope: "row" }, h("a", { href: `#/campaigns/${encodeURIComponent(id)}` }, id)), h("td", {}, String(n)))))));
  }

  renderUsage(settings);
  mount(h("h1", {}, "Settings → Lines"), form, usage);
  let stopped = false;
  const timer = setInterval(async () => {
    try {
      const s = await api("/account/settings");
      if (!stopped) renderUsage(s);
    } catch { /* the next tick tries again */ }
  }, POLL_MS);
  return () => { stopped = true; clearInterval(timer); };
}
