/** What the CLI's commands share in reading their arguments. */

/** A bad flag or value: the command prints its usage and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError'
}

/** An environment variable's value; unset and empty alike are undefined. */
export function nonEmpty (v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v
}

export const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `1500` (ms), `30s`, `15m`, `1.5h`, `2d`, `0`. */
export function parseDuration (text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text)
  if (m === null) throw new UsageError(`Invalid duration "${text}"; expected milliseconds or a number with ms, s, m, h or d (e.g. 15m)`)
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2] ?? 'ms'])
}
