import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

// A child process with its output captured, for tests (through ./child.ts, which kills it in the
// test's teardown) and benchmarks alike: nothing here depends on the test runner.

/** The repository root (where package.json and tsconfig.json are). */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface Exit { code: number | null, signal: NodeJS.Signals | null }

export type Stream = 'stdout' | 'stderr'

export interface Child {
  proc: ChildProcess
  stdout(): string
  stderr(): string
  /** Both streams, labelled, for failure messages. */
  output(): string
  /** Resolves with the first match of `re` in the stream; rejects when the child exits first or after `ms`. */
  waitFor(stream: Stream, re: RegExp, ms?: number): Promise<RegExpMatchArray>
  /** Resolves when the child has exited and its stdio closed; rejects after `ms`. */
  exited(ms?: number): Promise<Exit>
}

export interface ChildOptions {
  cwd: string
  /** Added to the inherited environment (after `dropEnv` has filtered it). */
  env?: Record<string, string>
  /** Inherited variables whose names match are not passed on. */
  dropEnv?: RegExp
  /** Defaults for `waitFor` and `exited`. */
  timeouts: { start: number, exit: number }
}

/** SIGKILL unless it has exited already. */
export function killProcess (proc: ChildProcess): void {
  if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
}

/** Spawns `command ...args` with stdout and stderr captured. The caller kills it (`killProcess`). */
export function startProcess (command: string, args: string[], options: ChildOptions): Child {
  const { dropEnv } = options
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => dropEnv === undefined || !dropEnv.test(k)))
  const proc = spawn(command, args, { cwd: options.cwd, env: { ...base, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] })

  const text = { stdout: '', stderr: '' }
  const listeners = new Set<() => void>()
  for (const stream of ['stdout', 'stderr'] as const) {
    proc[stream]?.setEncoding('utf8').on('data', (s: string) => { text[stream] += s; for (const l of listeners) l() })
  }
  const closed = new Promise<Exit>((resolve) => { proc.once('close', (code, signal) => { resolve({ code, signal }) }) })
  const output = (): string => `stdout:\n${text.stdout}\nstderr:\n${text.stderr}`

  return {
    proc,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    output,
    waitFor: async (stream, re, ms = options.timeouts.start) => await new Promise((resolve, reject) => {
      const check = (): void => {
        const m = text[stream].match(re)
        if (m !== null) { done(); resolve(m) }
      }
      const timer = setTimeout(() => { done(); reject(new Error(`no ${re} on ${stream} within ${ms} ms\n${output()}`)) }, ms)
      const onExit = (): void => { done(); reject(new Error(`exited before printing ${re}\n${output()}`)) }
      const done = (): void => { clearTimeout(timer); listeners.delete(check); proc.off('close', onExit) }
      listeners.add(check)
      proc.once('close', onExit)
      check()
    }),
    exited: async (ms = options.timeouts.exit) => {
      let timer: NodeJS.Timeout | undefined
      try {
        return await Promise.race([
          closed,
          new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`still running ${ms} ms later\n${output()}`)) }, ms) }),
        ])
      } finally {
        clearTimeout(timer)
      }
    },
  }
}
