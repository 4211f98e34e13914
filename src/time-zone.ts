// One check for every time zone a user gives (ACCOUNT_TIMEZONE, a report's tz, a schedule rule's tz).

/**
 * An IANA zone name that Intl (and so Node's clock math) knows. Offsets such as "+05:30" are
 * refused although Intl takes them: Postgres reads such a name POSIX-style, with the sign inverted,
 * so a report in "+05:30" would be shifted by eleven hours.
 */
export function isTimeZone(tz: string): boolean {
  if (/^[+-]?\d/.test(tz)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
