/**
 * Kubernetes `MicroTime` (Lease `spec.renewTime`, `spec.acquireTime`): RFC 3339 in UTC with
 * exactly six fractional digits. The API server parses it with a fixed layout and refuses any
 * other digit count — JavaScript's `toISOString()` (three digits) included (docs/kubernetes.md
 * "Leases").
 */

/** `2026-12-01T17:21:45.123000Z` for a Date (millisecond precision, padded to microseconds). */
export function formatMicroTime(date: Date): string {
  return `${date.toISOString().slice(0, -1)}000Z`
}
