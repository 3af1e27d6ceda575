// The console's only way to the server: the public /v1 API with the account's key.

const KEY = "campaignflow.apiKey";

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || { status, title: `HTTP ${status}`, errors: [] };
  }
}

export function apiKey() { return sessionStorage.getItem(KEY); }
export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY, key); else sessionStorage.removeItem(KEY);
}

function idempotencyKey() {
  return (crypto.randomUUID && crypto.randomUUID()) || `${Date.now()}-${Math.random()}`;
}

/** fetch /v1/...; JSON in and out; problem+json turned into an ApiError. */
export async function api(path, { method = "GET", body, key, idempotency, raw = false } = {}) {
  const headers = { Authorization: `Bearer ${key || apiKey() || ""}`, Accept: "application/json" };
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
  if (method === "POST") headers["Idempotency-Key"] = idempotency || idempotencyKey();
  const res = await fetch(`/v1${path}`, { method, headers, body: payload });
  if (raw && res.ok) return res;
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { detail: text }; }
  }
  if (!res.ok) {
    if (res.status === 401 && !key) window.dispatchEvent(new CustomEvent("cf:unauthorized"));
    throw new ApiError(res.status, data);
  }
  return data;
}

/** Every page of a paginated list. */
export async function all(path) {
  const items = [];
  let cursor = null;
  for (let i = 0; i < 100; i += 1) {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api(`${path}${sep}limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    items.push(...(page.items || []));
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return items;
}
