// A small RFC 4180 reader for conversion uploads: quoted fields, doubled quotes, CRLF or LF.
// Uploads are a few columns exported from a network's dashboard; a dependency would be heavier
// than these lines.

export class CsvError extends Error {}

/** Rows of fields; blank lines are skipped. Throws CsvError on an unterminated quote. */
export function parseCsv(text: string): string[][] {
  const out: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  const input = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const endRow = () => {
    row.push(field);
    if (!(row.length === 1 && row[0] === '')) out.push(row);
    row = [];
    field = '';
  };
  while (i < input.length) {
    const ch = input[i];
    if (quoted) {
      if (ch === '"') {
        if (input[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else field += ch;
      i++;
      continue;
    }
    if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n') endRow();
    else if (ch !== '\r') field += ch;
    i++;
  }
  if (quoted) throw new CsvError('a quoted field is not closed');
  if (field !== '' || row.length > 0) endRow();
  return out;
}

/** CSV rows to objects keyed by the header row's names. */
export function csvObjects(text: string): Record<string, string>[] {
  const [header, ...rest] = parseCsv(text);
  if (!header) return [];
  const names = header.map((h) => h.trim());
  return rest.map((fields) => Object.fromEntries(names.map((n, i) => [n, fields[i] ?? ''])));
}
