/**
 * The code samples of README.md and docs/*.md. TypeScript and JavaScript blocks are type-checked
 * in one TypeScript program against the sources (test/helpers/typecheck-samples.ts); JSON blocks
 * are parsed; shell blocks and inline code may only use flags `serve --help` / `gc --help` list,
 * npm scripts package.json has, and files the repository has; every `S3IPFS_*` variable named is
 * in .env.example; every relative link resolves, anchors included. A block opts out only with
 * `<!-- sample: skip reason="..." -->` on the line above it (a skipped shell block is not run, but
 * its flags and paths are still checked). The samples marked to run are run by
 * test/doc-samples-run.test.ts (`run`) and test/doc-samples-shell.test.ts (`run-shell`): every
 * shell block must be one of them or skipped with its reason, and the skipped ones are listed.
 */
import { execFile } from 'node:child_process'
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import test from 'ava'
import { codeBlocks, headingAnchors, links, markdownFiles, proseOnly, readMarkdown } from './helpers/markdown.js'
import type { CodeBlock } from './helpers/markdown.js'
import { CHECKED_LANGS, sampleModules, typecheckSamples } from './helpers/typecheck-samples.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const exec = promisify(execFile)

/** Fence languages the docs may use, and what happens to each (anything else fails). */
const SHELL_LANGS = new Set(['sh', 'bash', 'console'])
const OTHER_LANGS = new Map([
  ['json', 'parsed with JSON.parse'],
  ['mermaid', 'diagram: only its type keyword is checked'],
  ['yaml', 'not checked'],
  ['text', 'not checked'],
])
const DIAGRAMS = /^(flowchart|graph|sequenceDiagram|stateDiagram(-v2)?|classDiagram|erDiagram)\b/
/** Marker kinds: how test/doc-samples-run.test.ts and this file treat the block below. */
const MARKER_KINDS = new Set(['skip', 'continues', 'serve', 'run', 'run-shell'])

const files = markdownFiles()
const texts = new Map(files.map((f) => [f, readMarkdown(f)]))
const blocks: CodeBlock[] = files.flatMap((f) => codeBlocks(f, texts.get(f) ?? ''))
const at = (b: CodeBlock): string => `${b.file}:${b.line}`

test('every code block has a known language and every marker a known kind (skips with a reason)', (t) => {
  t.true(blocks.length > 20, `found only ${blocks.length} code blocks`)
  for (const b of blocks) {
    t.true(CHECKED_LANGS.has(b.lang) || SHELL_LANGS.has(b.lang) || OTHER_LANGS.has(b.lang), `${at(b)}: fence language "${b.lang}" (add it here with what checks it, or use one of these)`)
    if (b.marker === undefined) continue
    t.true(MARKER_KINDS.has(b.marker.kind), `${at(b)}: unknown sample marker "${b.marker.kind}"`)
    if (b.marker.kind === 'skip') t.true((b.marker.attrs.reason ?? '').length > 10, `${at(b)}: a skip needs reason="why"`)
  }
  const skipped = blocks.filter((b) => b.marker?.kind === 'skip')
  t.log(`${blocks.length} code blocks in ${files.length} files; ${skipped.length} skipped${skipped.map((b) => `\n  ${at(b)}: ${b.marker?.attrs.reason}`).join('')}`)
})

test('every shell block is run by a test, or skipped with the reason it cannot run here', (t) => {
  const shell = blocks.filter((b) => SHELL_LANGS.has(b.lang))
  t.true(shell.length > 10, `found only ${shell.length} shell blocks`)
  const ran = shell.filter((b) => b.marker?.kind === 'run-shell' || (b.marker?.kind === 'run' && b.marker.attrs.against !== undefined))
  const skipped = shell.filter((b) => b.marker?.kind === 'skip')
  // README's first block, the two commands a new user runs, stays the README's first lines: CI
  // itself runs them (.ci/run: npm ci, then npm test on a clean clone).
  const first = shell.find((b) => b.file === 'README.md')
  t.is(first?.line, 3, 'README opens with the two commands')
  t.regex(first?.code ?? '', /npm install && npm start[\s\S]*npm install && npm test/)
  for (const b of shell) {
    if (b === first) continue
    t.true(ran.includes(b) || skipped.includes(b), `${at(b)}: a shell block neither run (<!-- sample: run-shell setup=NAME -->, or run against=NAME) nor skipped with reason="why it cannot run here"`)
  }
  t.log(`${shell.length} shell blocks: ${ran.length} run, README's first by CI itself, ${skipped.length} not run:${skipped.map((b) => `\n  ${at(b)}: ${b.marker?.attrs.reason}`).join('')}`)
})

test('every TypeScript and JavaScript sample type-checks against the sources (one program)', (t) => {
  const modules = sampleModules(blocks)
  const checked = modules.flatMap((m) => m.blocks)
  t.true(checked.length >= 10, `only ${checked.length} samples checked`)
  const diagnostics = typecheckSamples(modules)
  t.deepEqual(diagnostics.map((d) => `${d.where}: ${d.message}`), [], 'a sample does not compile (file:line of the Markdown)')
  t.log(`${checked.length} samples type-checked as ${modules.length} modules`)
})

test('every JSON sample parses', (t) => {
  const json = blocks.filter((b) => b.lang === 'json' && b.marker?.kind !== 'skip')
  t.true(json.length > 0)
  for (const b of json) t.notThrows(() => JSON.parse(b.code), `${at(b)}: not JSON`)
  for (const b of blocks.filter((x) => x.lang === 'mermaid')) t.regex(b.code.trim(), DIAGRAMS, `${at(b)}: a mermaid diagram type`)
})

/** The shell blocks' commands, with `\` continuations joined and comments dropped. */
function shellCommands (b: CodeBlock): string[] {
  return b.code.replace(/\\\n/g, ' ').split('\n').map((l) => l.replace(/(^|\s)#.*$/, '').replace(/^\$ /, '').trim()).filter((l) => l !== '')
}

/** Inline code spans of the prose. */
function inlineCode (text: string): string[] {
  return [...proseOnly(text).matchAll(/`([^`\n]+)`/g)].map((m) => m[1])
}

/** The flags of `serve` and `gc` used in `text`: after `s3-ipfs-gateway serve|gc`, `npm start --`, or a bare `serve` / `gc` at the start of inline code. */
function cliFlags (text: string, inline: boolean): Array<{ command: 'serve' | 'gc', flag: string }> {
  const out: Array<{ command: 'serve' | 'gc', flag: string }> = []
  const re = inline
    ? /^(?:(?:npx )?s3-ipfs-gateway )?(serve|gc)((?:\s+\S+)*)$|^npm start --((?:\s+\S+)*)$/
    : /(?:s3-ipfs-gateway (serve|gc)|npm start --())((?:\s+[^|;&]+)*)/
  const m = re.exec(text)
  if (m === null) return out
  const command = (m[1] === 'gc' ? 'gc' : 'serve')
  const rest = inline ? (m[2] ?? m[3] ?? '') : m[3]
  for (const f of rest.matchAll(/(?:^|\s)(--[a-z0-9-]+)/g)) out.push({ command, flag: f[1] })
  return out
}

const helps = new Map<string, Promise<Set<string>>>()
/** The flags `s3-ipfs-gateway <command> --help` lists (the CLI run once per command). */
async function helpFlags (command: 'serve' | 'gc'): Promise<Set<string>> {
  if (!helps.has(command)) {
    helps.set(command, exec(process.execPath, ['--import', 'tsx', 'bin/cli.ts', command, '--help'], { cwd: ROOT })
      .then(({ stdout }) => new Set([...stdout.matchAll(/(?:^|\s)(--[a-z0-9-]+)/gm)].map((m) => m[1]))))
  }
  return await (helps.get(command) as Promise<Set<string>>)
}

test('every serve and gc flag the docs use is one `--help` lists', async (t) => {
  const known = { serve: await helpFlags('serve'), gc: await helpFlags('gc') }
  t.true(known.serve.has('--port') && known.gc.has('--grace-period'))
  let used = 0
  for (const file of files) {
    const text = texts.get(file) ?? ''
    const uses = [
      ...blocks.filter((b) => b.file === file && SHELL_LANGS.has(b.lang)).flatMap((b) => shellCommands(b).flatMap((c) => cliFlags(c, false).map((u) => ({ ...u, where: at(b) })))),
      ...inlineCode(text).flatMap((c) => cliFlags(c, true).map((u) => ({ ...u, where: `${file}: \`${c}\`` }))),
    ]
    for (const { command, flag, where } of uses) {
      used++
      t.true(known[command].has(flag), `${where}: \`${command} ${flag}\` is not in \`s3-ipfs-gateway ${command} --help\``)
    }
  }
  t.true(used > 20, `found only ${used} flag uses`)
})

/** A file in the repository, or one a user makes that git ignores (`deploy/.env` from its example). */
function existsOrMadeByUser (path: string): boolean {
  if (existsSync(join(ROOT, path))) return true
  try {
    execFileSync('git', ['check-ignore', '--quiet', '--no-index', path], { cwd: ROOT })
    return true
  } catch {
    return false
  }
}

test('every npm script and repository file a shell sample names exists', (t) => {
  const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts
  for (const b of blocks.filter((x) => SHELL_LANGS.has(x.lang))) {
    for (const command of shellCommands(b)) {
      const run = /\bnpm run ([\w:-]+)/.exec(command)
      if (run !== null) t.truthy(scripts[run[1]], `${at(b)}: npm run ${run[1]}: no such script in package.json`)
      for (const m of command.matchAll(/(?:^|\s)((?:examples|test|bench|deploy|scripts|bin|src|docs)\/[\w./-]+)/g)) {
        t.true(existsOrMadeByUser(m[1]), `${at(b)}: ${m[1]} does not exist`)
      }
    }
  }
})

test('every repository path named in inline code exists', (t) => {
  for (const [file, text] of texts) {
    for (const code of inlineCode(text)) {
      for (const m of code.matchAll(/(?:^|[\s(])((?:examples|test|bench|deploy|scripts|bin|src|adapters|docs)\/[\w./-]*\.[a-z]+)(?=$|[\s),:])/g)) {
        t.true(existsOrMadeByUser(m[1]), `${file}: \`${code}\` names ${m[1]}, which does not exist`)
      }
    }
  }
})

test('every S3IPFS_* variable the docs name is in .env.example', (t) => {
  const env = readFileSync(join(ROOT, '.env.example'), 'utf8')
  const documented = new Set([...env.matchAll(/^#? ?(S3IPFS_[A-Z0-9_]+)=/gm)].map((m) => m[1]))
  t.true(documented.size > 20)
  for (const [file, text] of texts) {
    for (const m of text.matchAll(/\bS3IPFS_[A-Z0-9_]*[A-Z0-9]\b/g)) {
      t.true(documented.has(m[0]), `${file}: ${m[0]} is not in .env.example`)
    }
  }
})

test('every relative link resolves, anchors included', (t) => {
  let count = 0
  for (const [file, text] of texts) {
    for (const { line, target } of links(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue
      count++
      const [path, anchor] = target.split('#', 2)
      const resolved = path === '' ? file : normalize(join(dirname(file), path))
      t.true(existsSync(join(ROOT, resolved)), `${file}:${line}: ${target}: no file ${resolved}`)
      if (anchor === undefined || !resolved.endsWith('.md') || !existsSync(join(ROOT, resolved))) continue
      const anchors = headingAnchors(texts.get(resolved) ?? readFileSync(join(ROOT, resolved), 'utf8'))
      t.true(anchors.has(anchor), `${file}:${line}: ${target}: ${resolved} has no heading with the anchor #${anchor}`)
    }
  }
  t.true(count > 50, `found only ${count} relative links`)
})

test('docs/CONFIGURATION.md documents every flag of `serve --help` and `gc --help`', async (t) => {
  const config = readMarkdown('docs/CONFIGURATION.md')
  for (const command of ['serve', 'gc'] as const) {
    const flags = [...await helpFlags(command)].filter((f) => f !== '--help' && f !== '--version')
    t.true(flags.length > 5)
    for (const flag of flags) t.true(config.includes(`\`${flag}`), `docs/CONFIGURATION.md does not mention \`${command} ${flag}\``)
  }
})
