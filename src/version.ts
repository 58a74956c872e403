import { readFileSync } from 'node:fs'

let version: string | undefined

/** This package's version, from its package.json (one level above both src/ and dist/). */
export function packageVersion (): string {
  if (version === undefined) {
    try {
      version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version
    } catch {
      version = '0.0.0'
    }
  }
  return version
}
