// Settings -> Subscription: what the account's plan allows today.
import { session, subscriptionActive } from "./session.js";
import { h, mount } from "./ui.js";

export async function subscriptionPage() {
  const sub = (session.account && session.account.subscription) || {};
  const active = subscriptionActive();
  mount(
    h("h1", {}, "Settings → Subscription"),
    h("section", { class: "card", "aria-labelledby": "sub-h" },
      h("h2", { id: "sub-h" }, "Plan status"),
      h("dl", { class: "facts" },
        h("dt", {}, "Account"), h("dd", {}, `${session.account.name} (${session.account.account_id})`),
        h("dt", {}, "Subscription"), h("dd", { "data-testid": "subscription-status" }, active ? "Active" : "Not active"),
        h("dt", {}, "Status"), h("dd", {}, sub.status || "–"),
        sub.reason ? [h("dt", {}, "Reason"), h("dd", {}, sub.reason)] : null),
      h("p", {}, active
        ? "Campaigns can be started and scheduled."
        : "Campaigns need an active subscription: drafts can be created and edited, but starting or scheduling them is refused until an operator reactivates the plan.")),
  );
  return null;
}
