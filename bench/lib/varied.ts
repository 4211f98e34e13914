// Visitor dimensions as varied as the benchmark's traffic (a dozen user agents, five languages,
// visitors from 40 countries), for the cost scripts that write rows without going through /click:
// the rollups' cost depends on how many distinct groups a batch holds.
const COUNTRIES = 'US GB DE FR ES IT NL BR MX CA AU JP IN ID PH TR PL RU UA ZA NG EG AR CO CL SE NO DK FI BE CH AT PT GR RO HU CZ VN TH MY'.split(' ');
const LANGUAGES = ['en', 'de', 'fr', 'es', 'pt'];
const DEVICES = [
  { device: 'mobile', os: 'iOS', browser: 'Mobile Safari' },
  { device: 'mobile', os: 'Android', browser: 'Chrome' },
  { device: 'desktop', os: 'Windows', browser: 'Chrome' },
  { device: 'desktop', os: 'Mac OS', browser: 'Safari' },
  { device: 'tablet', os: 'iOS', browser: 'Safari' },
  { device: 'desktop', os: 'Windows', browser: 'Edge' },
  { device: 'mobile', os: 'Android', browser: 'Samsung Browser' },
];

/** Country, language, device, OS and browser of visitor number i (deterministic). */
export function variedVisitor(i: number) {
  return {
    country: COUNTRIES[(Math.imul(i + 7, 2654435761) >>> 0) % COUNTRIES.length],
    language: LANGUAGES[i % LANGUAGES.length],
    ...DEVICES[i % DEVICES.length],
  };
}
