// The signed-in session, and the way back to the shell's router and account loader: apart
// from app.js, so the pages use them without importing the shell that imports the pages
// (app.js registers both at start; no module imports app.js).
export const session = { account: null };

let router = async () => {};
let accountLoader = async () => {};

/** Called once by app.js: what route() and refreshAccount() run. */
export function connectShell({ route: r, loadAccount }) {
  router = r;
  accountLoader = loadAccount;
}

/** Render the page of the current location again. */
export function route() { return router(); }

/** Reload the account (after an action the API refused with 402, say). */
export async function refreshAccount() {
  try { await accountLoader(); } catch { /* the next route will ask to sign in */ }
}

export function subscriptionActive() {
  const sub = session.account && session.account.subscription;
  return Boolean(sub && sub.active);
}
