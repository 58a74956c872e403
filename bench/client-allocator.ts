/**
 * The bench's own process (the client every server is driven with) runs with glibc's malloc told
 * to keep freed memory: the pattern generator (pattern.ts) makes a fresh 1 MiB buffer per slice,
 * and with several uploads in flight glibc kept giving that memory back to the kernel and faulting
 * it in again. Measured with the multipart section (4 parts in flight): the client spent 2.2–4.4 s
 * of CPU per GiB against 1.6–2.1 s for one stream, taken from the servers on this 2-core machine;
 * with these settings, 1.0–1.3 s for both (bench/WRITE-PATH.md, round four).
 *
 * glibc reads these variables once, when the process starts, so the bench starts itself again
 * with them set, and that second process restores its environment at once: every server it
 * starts gets the environment `npm run bench` was given, so no server under test is tuned by this.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'

const MARK = 'S3IPFS_BENCH_CLIENT_ALLOCATOR'
const SETTINGS: Record<string, string> = {
  // 1 MiB slices come from the heap, not from a fresh mmap each
  MALLOC_MMAP_THRESHOLD_: String(8 * 1024 * 1024),
  // and freed memory stays there for the next ones
  MALLOC_TRIM_THRESHOLD_: String(512 * 1024 * 1024),
}

const saved = process.env[MARK]
if (saved === undefined) {
  const original = Object.fromEntries(Object.keys(SETTINGS).map((name) => [name, process.env[name] ?? null]))
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, ...SETTINGS, [MARK]: JSON.stringify(original) },
  })
  // the second process cleans up its servers on these; this one waits for it
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => { child.kill(signal) })
  const [code, signal] = await once(child, 'exit') as [number | null, NodeJS.Signals | null]
  process.exit(code ?? (signal === null ? 1 : 128))
}

// the second process: put back what the servers it starts are to see
for (const [name, value] of Object.entries(JSON.parse(saved) as Record<string, string | null>)) {
  if (value === null) delete process.env[name]
  else process.env[name] = value
}
delete process.env[MARK]
