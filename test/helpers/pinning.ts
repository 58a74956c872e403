import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { cp, mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ExecutionContext } from 'ava'

/**
 * The IPFS Pinning Service API tools, installed as a test fixture in test/fixtures/pinning (`npm
 * test` installs it first: `node test/fixtures/pinning/ensure.mjs`):
 *
 * - mock-ipfs-pinning-service 0.4.2, the spec's reference mock server, run as a child process
 *   (never in-process: its framework, oas-tools, swallows uncaught exceptions and tests hang);
 * - @ipfs-shipyard/pinning-service-compliance 1.8.1, the compliance checker, run as a child process
 *   offline: test/fixtures/pinning/offline-spec.cjs makes it read the spec (0.1.2) that the mock
 *   ships instead of downloading it.
 *
 * The compliance tool always exits 0 and writes its result as `dist/docs/<hostname>.json` (plus a
 * markdown report `<hostname>.md` and logs in `<hostname>/`) inside its own package directory,
 * where `docs` is found from the tool's own file location. The name has the host only, not the port:
 * two runs at once against 127.0.0.1 (several test files) would overwrite each other's result and
 * interleave their reports. So every run executes its own copy of the tool's `dist/src` in a fresh
 * temporary directory (its `node_modules` a symlink to the fixture's), and reads the results there.
 */
const FIXTURE = fileURLToPath(new URL('../fixtures/pinning', import.meta.url))
const MODULES = join(FIXTURE, 'node_modules')
const MOCK_CLI = join(MODULES, 'mock-ipfs-pinning-service/cli.js')
const MOCK_SPEC = join(MODULES, 'mock-ipfs-pinning-service/api/oas-doc.yaml')
const COMPLIANCE = join(MODULES, '@ipfs-shipyard/pinning-service-compliance')
const COMPLIANCE_CLI = join(COMPLIANCE, 'dist/src/index.js')
const OFFLINE_SPEC = join(FIXTURE, 'offline-spec.cjs')

/** Why the fixture cannot run, or undefined when it can. */
export function pinningProblem (): string | undefined {
  for (const file of [MOCK_CLI, MOCK_SPEC, COMPLIANCE_CLI]) {
    if (!existsSync(file)) return `the pinning service test fixture is not installed (run \`node test/fixtures/pinning/ensure.mjs\`): no ${file}`
  }
  return undefined
}

/**
 * Loaded (`--import`) into every child: it exits when the process that started it is gone, so a
 * test worker killed hard leaves nothing behind.
 */
const EXIT_WITH_PARENT = `
const parent = process.ppid
setInterval(() => { if (process.ppid !== parent) process.exit(0) }, 500).unref()
`
/**
 * Loaded into the mock as well: its cli.js calls `http.createServer(app).listen(port)` and says
 * nothing. Here a listen on a bare port binds 127.0.0.1 only, the port is printed once bound (so
 * `--port 0` lets the system pick a free one: no race for a port), and a listen error ends the
 * process instead of vanishing into the framework's handlers.
 */
const MOCK_LISTEN = `
import http from 'node:http'
const listen = http.Server.prototype.listen
http.Server.prototype.listen = function (...args) {
  this.once('listening', () => { process.stdout.write('\\nPINNING-MOCK-LISTENING ' + this.address().port + '\\n') })
  this.once('error', (err) => { process.stderr.write(String(err && err.stack) + '\\n'); process.exit(1) })
  if (args.length === 1 && typeof args[0] === 'number') args.push('127.0.0.1')
  return listen.apply(this, args)
}
`
const LISTENING = /\nPINNING-MOCK-LISTENING (\d+)\n/

function dataImport (source: string): string {
  return `--import=data:text/javascript,${encodeURIComponent(source)}`
}

/** The children still running, killed when this process exits however it exits. */
const running = new Set<ChildProcess>()
process.on('exit', () => { for (const proc of running) proc.kill('SIGKILL') })

function childEnv (): NodeJS.ProcessEnv {
  const { NODE_OPTIONS: _options, DEBUG: _debug, ...rest } = process.env
  return { ...rest, FORCE_COLOR: '0', NO_COLOR: '1' }
}

interface Spawned {
  proc: ChildProcess
  /** stdout and stderr as they came, the last `limit` characters. */
  output(): string
  /** Resolves when the child has exited and its stdio closed. */
  closed: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /** SIGTERM, SIGKILL after `graceMs`, and wait for the exit. */
  stop(graceMs?: number): Promise<void>
}

function spawnNode (args: string[], cwd: string, limit: number, onData?: (text: string) => void): Spawned {
  const proc = spawn(process.execPath, args, { cwd, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(proc)
  let text = ''
  const onChunk = (s: string): void => {
    text += s
    if (text.length > limit * 2) text = text.slice(-limit)
    onData?.(text)
  }
  proc.stdout?.setEncoding('utf8').on('data', onChunk)
  proc.stderr?.setEncoding('utf8').on('data', onChunk)
  const closed = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('error', (err) => { onChunk(`\n[spawn error] ${err.message}\n`) })
    proc.once('close', (code, signal) => { running.delete(proc); resolve({ code, signal }) })
  })
  return {
    proc,
    output: () => text.slice(-limit),
    closed,
    async stop (graceMs = 5000) {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM')
        const timer = setTimeout(() => { proc.kill('SIGKILL') }, graceMs)
        await closed
        clearTimeout(timer)
      }
      await closed
    },
  }
}

async function sleep (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

export interface MockPinningService {
  /** The API base, e.g. http://127.0.0.1:41234 (no trailing slash). */
  readonly endpoint: string
  /** The mock's stdout and stderr so far (the last 64 kB), for failure messages. */
  output(): string
  /** SIGTERM (SIGKILL after 5 s) and wait for the exit; also done in the test's teardown. */
  stop(): Promise<void>
}

export interface MockPinningServiceOptions {
  /** The access token the mock requires (`Authorization: Bearer <token>`). */
  token: string
  /** The mock's `--loglevel`: 'info' logs every request and response. Default 'error'. */
  loglevel?: 'error' | 'info' | 'debug'
  /** How long to wait for it to answer HTTP. Default 60 s. */
  startTimeoutMs?: number
}

/**
 * Starts mock-ipfs-pinning-service (`cli.js --port 0 --token T`) as a child process on a free
 * loopback port and waits until it answers HTTP. Killed in the test's teardown (and when this
 * process exits).
 */
export async function startMockPinningService (t: ExecutionContext, options: MockPinningServiceOptions): Promise<MockPinningService> {
  const problem = pinningProblem()
  if (problem !== undefined) throw new Error(problem)
  const { token, loglevel = 'error', startTimeoutMs = 60_000 } = options

  let onData: ((text: string) => void) | undefined
  const child = spawnNode(
    [dataImport(EXIT_WITH_PARENT), dataImport(MOCK_LISTEN), MOCK_CLI, '--port', '0', '--token', token, '--loglevel', loglevel],
    FIXTURE, 64 * 1024, (text) => { onData?.(text) },
  )
  t.teardown(async () => { await child.stop() })
  const stop = async (): Promise<void> => { await child.stop() }

  try {
    const port = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`mock-ipfs-pinning-service did not listen within ${startTimeoutMs} ms\n${child.output()}`)) }, startTimeoutMs)
      onData = (text) => {
        const m = LISTENING.exec(text)
        if (m !== null) { clearTimeout(timer); onData = undefined; resolve(m[1]) }
      }
      onData(child.output())
      void child.closed.then(({ code, signal }) => {
        clearTimeout(timer)
        reject(new Error(`mock-ipfs-pinning-service exited (${code ?? signal}) before listening\n${child.output()}`))
      })
    })
    const endpoint = `http://127.0.0.1:${port}`
    // It listens only once set up; still, it is ready when it answers.
    const deadline = Date.now() + startTimeoutMs
    for (;;) {
      try {
        const res = await fetch(`${endpoint}/pins`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) })
        await res.arrayBuffer()
        break
      } catch (err) {
        if (child.proc.exitCode !== null || child.proc.signalCode !== null) throw new Error(`mock-ipfs-pinning-service exited\n${child.output()}`)
        if (Date.now() > deadline) throw new Error(`mock-ipfs-pinning-service at ${endpoint} did not answer HTTP within ${startTimeoutMs} ms: ${(err as Error).message}\n${child.output()}`)
        await sleep(200)
      }
    }
    return { endpoint, output: child.output, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

export interface ComplianceExpectation {
  title: string
  passed: boolean
}

export interface ComplianceCheck {
  /** The check's title, as in the report's summary (some include a random CID or name). */
  title: string
  passed: boolean
  /** Its expectations, its sub-requests' included, in report order. */
  expectations: ComplianceExpectation[]
  /** Errors the tool recorded while running it (stack traces). */
  errors: string[]
  /** Why the response did not match the spec's schema (Joi messages), when it did not. */
  schemaErrors: string[]
  /** The check's own request, e.g. 'GET http://127.0.0.1:41234/pins'. */
  request?: string
  /** The status line of its response, e.g. '401 Unauthorized'. */
  response?: string
}

export interface ComplianceResult {
  /** From the tool's JSON result: checks run, passed and failed. */
  total: number
  passed: number
  failed: number
  success: boolean
  /** Per check, from the tool's markdown report, in the order they ran. */
  checks: ComplianceCheck[]
  /** The tool's stdout and stderr (the last 256 kB), for failure messages. */
  output: string
  /** The markdown report the tool wrote (every request and response in full). */
  report: string
  /** The tool's exit code (it exits 0 whatever the checks say). */
  exitCode: number | null
}

export interface ComplianceOptions {
  /** Kill the tool after this long (it rate-limits itself to 1 request/s: ~45 s against the mock). Default 240 s. */
  timeoutMs?: number
}

const ICON = { passed: '\u{1F7E2}', failed: '\u274C' }

/** Per-check details from the markdown report: its summary, then each check's own section. */
function parseReport (report: string): ComplianceCheck[] {
  const lines = report.split('\n')
  const summaryAt = lines.findIndex((line) => /^## Summary \(\d+\/\d+ successful\)$/.test(line))
  if (summaryAt < 0) return []
  const checks: ComplianceCheck[] = []
  for (let i = summaryAt + 1; i < lines.length && !lines[i].startsWith('## '); i++) {
    const m = /^\s*(\u{1F7E2}|\u274C) \[(.*)\]\(#[^()\s]*\)\s*$/u.exec(lines[i])
    if (m === null) continue
    const passed = m[1] === ICON.passed
    const title = m[2]
    checks.push({ title, passed, expectations: [], errors: [], schemaErrors: [], ...section(lines, title, passed) })
  }
  return checks
}

function section (lines: string[], title: string, passed: boolean): Partial<ComplianceCheck> {
  const heading = `## ${title} - ${passed ? `${ICON.passed} SUCCESS` : `${ICON.failed} FAILED`}`
  const start = lines.lastIndexOf(heading)
  if (start < 0) return {}
  let end = start + 1
  while (end < lines.length && !lines[end].startsWith('## ')) end++
  const body = lines.slice(start + 1, end)

  const expectations: ComplianceExpectation[] = []
  const errors: string[] = []
  const schemaErrors: string[] = []
  let request: string | undefined
  let response: string | undefined
  let part = ''
  for (let i = 0; i < body.length; i++) {
    const line = body[i]
    if (line.startsWith('#')) {
      part = line
      if ((line === '#### Request' || line === '#### Response') && body[i + 1] === '```' && body[i + 2] !== undefined) {
        if (line === '#### Request') request = body[i + 2]
        else response = body[i + 2]
      }
      continue
    }
    if (part.startsWith('### Expectations')) {
      const m = /^\s*(\u{1F7E2}|\u274C) (.*) \((success|failure)\)\s*$/u.exec(line)
      if (m !== null) expectations.push({ title: m[2], passed: m[3] === 'success' })
    } else if (part === '### Errors during run') {
      if (/^\s*\u26A0\uFE0F /u.test(line)) errors.push(line.trim())
      else if (errors.length > 0 && line.trim() !== '') errors[errors.length - 1] += `\n${line}`
    } else if (part.startsWith("#### Response object doesn't match expected schema")) {
      if (line.startsWith('* ')) schemaErrors.push(line.slice(2))
    }
  }
  return { expectations, errors, schemaErrors, request, response }
}

/**
 * Runs the compliance checker (`pinning-service-compliance -s <endpoint> <token>`) against
 * `endpoint` as a child process, offline (see offline-spec.cjs), and returns its results: the
 * counts from its JSON result file and the per-check details from its markdown report. Throws when
 * the tool wrote no result (it crashed, or was killed at `timeoutMs`).
 */
export async function runPinningCompliance (endpoint: string, token: string, options: ComplianceOptions = {}): Promise<ComplianceResult> {
  const problem = pinningProblem()
  if (problem !== undefined) throw new Error(problem)
  const { timeoutMs = 240_000 } = options

  // A private copy of the tool (see above): <run>/tool/{package.json,dist/src}, <run>/node_modules → the fixture's.
  const run = await mkdtemp(join(tmpdir(), 's3ipfs-pinning-compliance-'))
  try {
    const tool = join(run, 'tool')
    await cp(join(COMPLIANCE, 'package.json'), join(tool, 'package.json'))
    await cp(join(COMPLIANCE, 'dist/src'), join(tool, 'dist/src'), { recursive: true, filter: (src) => !/\.(map|d\.ts)$/.test(src) })
    await symlink(MODULES, join(run, 'node_modules'), 'dir')
    const docs = join(tool, 'dist/docs')
    await mkdir(docs)
    const hostname = new URL(endpoint).hostname
    const jsonFile = join(docs, `${hostname}.json`)
    const reportFile = join(docs, `${hostname}.md`)
    await rm(jsonFile, { force: true })

    const child = spawnNode(
      [dataImport(EXIT_WITH_PARENT), '--require', OFFLINE_SPEC, join(tool, 'dist/src/index.js'), '-s', endpoint, token],
      run, 256 * 1024,
    )
    let timedOut = false
    const timer = setTimeout(() => { timedOut = true; void child.stop() }, timeoutMs)
    const { code } = await child.closed
    clearTimeout(timer)
    const output = child.output()

    let json: { total: number, passed: number, failed: number, success: boolean }
    try {
      json = JSON.parse(await readFile(jsonFile, 'utf8'))
    } catch (err) {
      const why = timedOut ? `was killed after ${timeoutMs} ms` : `exited ${code}`
      throw new Error(`pinning-service-compliance ${why} without a result (${(err as Error).message})\n${output}`)
    }
    const report = await readFile(reportFile, 'utf8').catch(() => '')
    return { ...json, checks: parseReport(report), output, report, exitCode: code }
  } finally {
    await rm(run, { recursive: true, force: true })
  }
}
