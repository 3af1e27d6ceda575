// The number list's columns: primary number, variable columns, alternates `_2`, `_3`...
// One model for the manual table and the CSV upload, so both send the same contacts.

export const PHONE = "phone_number";
export const RESERVED = new Set(["contact_id", "timezone", "agent_id"]); // not agent variables (SPEC section 2; agent_id: issue 23.3)

/** Split a CSV header into base columns, the alternate count and the alternates' variables. */
export function analyseHeader(header) {
  const set = new Set(header);
  let alternates = 0;
  const altVars = new Set();
  const base = [];
  for (const col of header) {
    const m = /^(.+)_(\d+)$/.exec(col);
    if (m && Number(m[2]) >= 2 && (m[1] === PHONE || set.has(m[1]))) {
      if (m[1] === PHONE) alternates = Math.max(alternates, Number(m[2]) - 1);
      else altVars.add(m[1]);
      continue;
    }
    if (col !== PHONE) base.push(col);
  }
  return { columns: base, alternates, altColumns: [...altVars] };
}

/** The table's column keys in display order. */
export function tableColumns(state) {
  const cols = [PHONE, ...state.columns];
  for (let n = 2; n <= state.alternates + 1; n += 1) {
    cols.push(`${PHONE}_${n}`, ...state.altColumns.map((c) => `${c}_${n}`));
  }
  return cols;
}

function blank(row) { return Object.values(row).every((v) => String(v ?? "").trim() === ""); }

/** Contacts for the API (rows left wholly empty are skipped) and each one's table row. */
export function contactsOf(state) {
  const cols = tableColumns(state);
  const contacts = [];
  const tableRow = [];
  state.rows.forEach((row, i) => {
    if (blank(row)) return;
    const c = {};
    for (const col of cols) {
      const v = String(row[col] ?? "").trim();
      if (v !== "" || col === PHONE) c[col] = v;
    }
    contacts.push(c);
    tableRow.push(i + 1);
  });
  return { contacts, tableRow };
}

/** Parse CSV text with papaparse into the table model; parse problems become rejects. */
export function parseCsv(text) {
  if (!window.Papa) throw new Error("The CSV parser (papaparse) is not installed: run make install.");
  const out = window.Papa.parse(text.replace(/^\uFEFF/, ""), { header: true, skipEmptyLines: "greedy" });
  const header = (out.meta.fields || []).map((f) => f.trim());
  const rejects = [];
  if (!header.includes(PHONE)) {
    rejects.push({ row: 0, column: PHONE, reason: "the header has no phone_number column" });
  }
  for (const err of out.errors) {
    rejects.push({ row: (err.row ?? -1) + 1, column: "", reason: err.message });
  }
  const model = analyseHeader(header);
  const rows = out.data.map((r) => {
    const row = {};
    for (const [k, v] of Object.entries(r)) if (k !== "__parsed_extra") row[k.trim()] = v ?? "";
    return row;
  });
  return { ...model, rows, rejects };
}
