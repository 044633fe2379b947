/**
 * Time helpers. All dates are offsets from one fixed reference instant so that the
 * generated data never depends on when the generator runs.
 */

/** The fixed "now" of the synthetic world: 2026-01-01T00:00:00Z. */
export const REFERENCE_MS = Date.UTC(2026, 0, 1);

/** Durations in milliseconds. */
export const MINUTE_MS = 60_000;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;
/** Average Gregorian year; exact calendar years are irrelevant for synthetic spreads. */
export const YEAR_MS = 365.2425 * DAY_MS;

/** FHIR `dateTime` with seconds precision and a `Z` zone, e.g. `2024-03-05T10:15:00Z`. */
export function dateTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** FHIR `instant` (same shape as {@link dateTime}; instants must carry seconds and a zone). */
export function instant(ms: number): string {
  return dateTime(ms);
}

/** FHIR `date`, e.g. `1984-07-21`. */
export function date(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Whole years between two instants (for age-dependent content). */
export function yearsBetween(fromMs: number, toMs: number): number {
  return Math.floor((toMs - fromMs) / YEAR_MS);
}
