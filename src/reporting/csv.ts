// CSV (RFC 4180) for reports and logs: the same columns and values as the JSON answers.

/**
 * One field. Text a visitor could have chosen (a var value, a placement) that starts with a
 * spreadsheet formula character is prefixed with ' so opening the export never runs it; numbers
 * (including negative money such as "-1.500000") are left alone.
 */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  let s = typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(s) && !/^-?\d+(\.\d+)?$/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const csvLine = (values: unknown[]) => values.map(csvField).join(',') + '\r\n';

/** Parses CSV text back into records (tests and tools; quoted fields may hold commas and newlines). */
export function parseCsv(text: string): string[][] {
  const out: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n') {
      row.push(field.replace(/\r$/, ''));
      out.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  if (field || row.length) out.push([...row, field]);
  return out;
}

/** Report rows flattened: per-type maps become `conversions:TYPE` / `revenue:TYPE` columns. */
export function reportCsv(rows: Record<string, unknown>[], fields: string[], metrics: readonly string[]): { header: string[]; lines: unknown[][] } {
  const types = [...new Set(rows.flatMap((r) => Object.keys((r.conversionsByType as object) ?? {})))].sort();
  const header = [...fields, ...metrics, ...types.map((t) => `conversions:${t}`), ...types.map((t) => `revenue:${t}`)];
  const lines = rows.map((r) => {
    const cbt = (r.conversionsByType ?? {}) as Record<string, number>;
    const rbt = (r.revenueByType ?? {}) as Record<string, string>;
    return [...fields.map((f) => r[f]), ...metrics.map((m) => r[m]), ...types.map((t) => cbt[t] ?? 0), ...types.map((t) => rbt[t] ?? '0.000000')];
  });
  return { header, lines };
}
