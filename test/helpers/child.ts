import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { killProcess, startProcess } from './process.js'
import type { Child, ChildOptions } from './process.js'

export { REPO_ROOT } from './process.js'
export type { Child, ChildOptions, Exit, Stream } from './process.js'

const children = new Set<ChildProcess>()

test.after.always(() => { for (const proc of children) killProcess(proc) })

/** Spawns `command ...args` with stdout and stderr captured; killed in the test's teardown whatever happens. */
export function spawnChild (t: ExecutionContext, command: string, args: string[], options: ChildOptions): Child {
  const child = startProcess(command, args, options)
  children.add(child.proc)
  t.teardown(() => { killProcess(child.proc); children.delete(child.proc) })
  return child
}

/** A fresh directory under the system temp dir, removed in the test's teardown. */
export async function tempDir (t: ExecutionContext, prefix = 's3ipfs-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}
