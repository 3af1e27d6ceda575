// Tiny SVG charts (no library): stacked bars of outcomes over time and horizontal rate bars.
// Each chart carries a text alternative and a data table for screen readers.
import { h, pct } from "./ui.js";

const NS = "http://www.w3.org/2000/svg";
export const OUTCOME_COLORS = {
  answered: "#1f7a3f", no_answer: "#9aa5b1", busy: "#c77c02", failed: "#b42318",
  voicemail: "#5b4bb7", timeout: "#6b4f2a", cancelled: "#52606d",
};
const FALLBACK = ["#0b6e99", "#a61e4d", "#5c940d", "#862e9c"];

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function bucketLabel(seconds) {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

function tick(iso, bucketSeconds) {
  const d = new Date(iso);
  if (bucketSeconds < 60) return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  if (bucketSeconds < 86400) return d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  return d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
}

/** Outcomes per bucket as stacked bars; the bucket width is the API's (from the span). */
export function outcomesChart(stats) {
  const rows = stats.outcomes_over_time || [];
  const bucket = stats.bucket_seconds || 60;
  const kinds = [];
  for (const r of rows) for (const k of Object.keys(r)) if (k !== "at" && !kinds.includes(k)) kinds.push(k);
  const color = (k) => OUTCOME_COLORS[k] || FALLBACK[kinds.indexOf(k) % FALLBACK.length];
  const total = rows.reduce((acc, r) => acc + kinds.reduce((a, k) => a + (r[k] || 0), 0), 0);
  const title = `Outcomes per ${bucketLabel(bucket)}: ${total} calls in ${rows.length} buckets`;
  if (!rows.length) return h("p", { class: "muted", "data-testid": "chart-empty" }, "No call outcome yet.");
  const W = 720; const H = 220; const L = 36; const B = 28; const T = 8;
  const max = Math.max(1, ...rows.map((r) => kinds.reduce((a, k) => a + (r[k] || 0), 0)));
  const bw = (W - L - 8) / rows.length;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title, class: "chart", "data-testid": "outcomes-chart", "data-bucket-seconds": bucket, "data-buckets": rows.length });
  svg.append(s("title", {}, title));
  for (const frac of [0, 0.5, 1]) {
    const y = T + (H - T - B) * (1 - frac);
    svg.append(s("line", { x1: L, x2: W - 4, y1: y, y2: y, class: "grid" }), s("text", { x: L - 4, y: y + 4, "text-anchor": "end", class: "axis" }, String(Math.round(max * frac))));
  }
  rows.forEach((r, i) => {
    let y = H - B;
    for (const k of kinds) {
      const v = r[k] || 0;
      if (!v) continue;
      const bh = ((H - T - B) * v) / max;
      y -= bh;
      svg.append(s("rect", { x: L + i * bw + bw * 0.08, y, width: Math.max(1, bw * 0.84), height: bh, fill: color(k) }, s("title", {}, `${tick(r.at, bucket)} ${k}: ${v}`)));
    }
  });
  const every = Math.max(1, Math.ceil(rows.length / 6));
  rows.forEach((r, i) => {
    if (i % every === 0) svg.append(s("text", { x: L + i * bw + bw / 2, y: H - 8, "text-anchor": "middle", class: "axis" }, tick(r.at, bucket)));
  });
  const legend = h("ul", { class: "legend" }, kinds.map((k) => h("li", {}, h("span", { class: "swatch", style: { background: color(k) } }), k)));
  const table = h("details", {}, h("summary", {}, "Chart data as a table"),
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Bucket start"), kinds.map((k) => h("th", { scope: "col" }, k)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, h("th", { scope: "row" }, tick(r.at, bucket)), kinds.map((k) => h("td", {}, String(r[k] || 0)))))))));
  return h("figure", { class: "chart-fig" }, svg, h("figcaption", {}, title), legend, table);
}

/** A table whose rate column carries a bar: answer rate by caller ID or by attempt. */
export function rateTable(caption, keyLabel, rows, keyOf, testid) {
  if (!rows || !rows.length) return h("p", { class: "muted" }, `${caption}: no finished call yet.`);
  return h("div", { class: "table-wrap" }, h("table", { class: "rates", "data-testid": testid },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, keyLabel), h("th", { scope: "col" }, "Calls"), h("th", { scope: "col" }, "Answered"), h("th", { scope: "col" }, "Answer rate"))),
    h("tbody", {}, rows.map((r) => h("tr", {},
      h("th", { scope: "row" }, String(keyOf(r))),
      h("td", { "data-col": "calls" }, String(r.calls)),
      h("td", { "data-col": "answered" }, String(r.answered)),
      h("td", {}, h("span", { class: "rate-bar", "aria-hidden": "true" }, h("span", { style: { width: `${Math.round((r.answer_rate || 0) * 100)}%` } })), ` ${pct(r.answer_rate)}`))))));
}

/** Stacked bars over labelled categories (hours, weekdays, days), with the data as a table.
 *  series: [{ name, values: number[], color }]; labels: one per bar. */
export function barChart({ title, labels, series, testid, keyLabel }) {
  if (!labels.length) return h("p", { class: "muted" }, `${title}: no call in this period.`);
  const W = 720; const H = 200; const L = 36; const B = 28; const T = 8;
  const totals = labels.map((_, i) => series.reduce((a, sr) => a + (sr.values[i] || 0), 0));
  const max = Math.max(1, ...totals);
  const bw = (W - L - 8) / labels.length;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title, class: "chart", "data-testid": testid });
  svg.append(s("title", {}, title));
  for (const frac of [0, 0.5, 1]) {
    const y = T + (H - T - B) * (1 - frac);
    svg.append(s("line", { x1: L, x2: W - 4, y1: y, y2: y, class: "grid" }), s("text", { x: L - 4, y: y + 4, "text-anchor": "end", class: "axis" }, String(Math.round(max * frac))));
  }
  labels.forEach((label, i) => {
    let y = H - B;
    for (const sr of series) {
      const v = sr.values[i] || 0;
      if (!v) continue;
      const bh = ((H - T - B) * v) / max;
      y -= bh;
      svg.append(s("rect", { x: L + i * bw + bw * 0.08, y, width: Math.max(1, bw * 0.84), height: bh, fill: sr.color }, s("title", {}, `${label} ${sr.name}: ${v}`)));
    }
  });
  const every = Math.max(1, Math.ceil(labels.length / 8));
  labels.forEach((label, i) => {
    if (i % every === 0) svg.append(s("text", { x: L + i * bw + bw / 2, y: H - 8, "text-anchor": "middle", class: "axis" }, label));
  });
  const legend = h("ul", { class: "legend" }, series.map((sr) => h("li", {}, h("span", { class: "swatch", style: { background: sr.color } }), sr.name)));
  const table = h("details", {}, h("summary", {}, `${title}: the data as a table`),
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, keyLabel), series.map((sr) => h("th", { scope: "col" }, sr.name)))),
      h("tbody", {}, labels.map((label, i) => h("tr", {}, h("th", { scope: "row" }, label), series.map((sr) => h("td", {}, String(sr.values[i] || 0)))))))));
  return h("figure", { class: "chart-fig" }, svg, h("figcaption", {}, title), legend, table);
}
