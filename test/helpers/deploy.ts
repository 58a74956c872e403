/** What the tests of deploy/ (image, compose, Kubernetes) share: reading the files and running tools. */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { delimiter, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { parseAllDocuments } from 'yaml'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))

const exec = promisify(execFile)

export async function repoText (path: string): Promise<string> {
  return await readFile(join(ROOT, path), 'utf8')
}

/** Every document of a YAML file (aliases resolved); a syntax error in any of them throws. */
export async function yamlDocuments (path: string): Promise<unknown[]> {
  const docs = parseAllDocuments(await repoText(path))
  return docs.map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors.map((e) => e.message).join('; ')}`)
    return doc.toJS({ maxAliasCount: 100 }) as unknown
  }).filter((doc) => doc !== null)
}

/** An executable of that name on PATH, or undefined. */
export function which (name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && existsSync(join(dir, name))) return join(dir, name)
  }
  return undefined
}

/** Runs a command in the repository root; a non-zero exit is a result, not an exception. */
export async function run (file: string, args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number, output: string }> {
  try {
    const { stdout, stderr } = await exec(file, args, { cwd: ROOT, timeout: 120_000, env })
    return { code: 0, output: `${stdout}${stderr}` }
  } catch (err) {
    const e = err as { code?: unknown, stdout?: string, stderr?: string }
    if (typeof e.code !== 'number') throw err
    return { code: e.code, output: `${e.stdout ?? ''}${e.stderr ?? ''}` }
  }
}

/** The S3IPFS_* variables the CLI reads (`env.S3IPFS_X` anywhere in bin/), from its source. */
export async function cliVariables (): Promise<Set<string>> {
  const names = new Set<string>()
  for (const file of (await readdir(join(ROOT, 'bin'))).filter((f) => f.endsWith('.ts'))) {
    for (const m of (await repoText(join('bin', file))).matchAll(/env\.(S3IPFS_[A-Z0-9_]+)/g)) names.add(m[1])
  }
  return names
}

/** A duration as the CLI writes them (`5s`, `1m`, `250ms`, or bare milliseconds), in seconds. */
export function seconds (text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim())
  if (m === null) throw new Error(`not a duration: ${text}`)
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] ?? 'ms'] ?? 0.001
  return Number(m[1]) * unit
}
