/**
 * Reading the project's Markdown (README.md and docs/*.md) for test/doc-samples*.test.ts: fenced
 * code blocks with their `<!-- sample: ... -->` markers, heading anchors and relative links.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** README.md and every docs/*.md, relative to the repository root. */
export function markdownFiles (): string[] {
  const docs = readdirSync(join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)
  return ['README.md', ...docs]
}

export function readMarkdown (file: string): string {
  return readFileSync(join(REPO_ROOT, file), 'utf8')
}

/** `<!-- sample: kind key=value key="quoted value" -->`: how the samples test treats the block below it. */
export interface Marker {
  kind: string
  attrs: Record<string, string>
}

export interface CodeBlock {
  file: string
  /** 1-based line of the opening fence. */
  line: number
  /** The info string's first word, lower case (`ts`, `sh`, `json`, ...); '' when none. */
  lang: string
  code: string
  marker?: Marker
}

const FENCE = /^( *)(`{3,}|~{3,})\s*([^`\s]*)/
const MARKER = /^<!--\s*sample:\s*([a-z-]+)((?:\s+[a-z-]+=(?:"[^"]*"|\S+))*)\s*-->$/
const ATTR = /([a-z-]+)=(?:"([^"]*)"|(\S+))/g

function parseMarker (line: string): Marker | undefined {
  const m = MARKER.exec(line.trim())
  if (m === null) return undefined
  const attrs: Record<string, string> = {}
  for (const a of m[2].matchAll(ATTR)) attrs[a[1]] = a[2] ?? a[3]
  return { kind: m[1], attrs }
}

/**
 * Every fenced code block, with the marker on the nearest non-blank line above its fence (if that
 * line is one). A block's indentation (inside a list item) is removed. Throws on a line that
 * starts like a marker but does not parse, and on an unclosed fence.
 */
export function codeBlocks (file: string, text: string): CodeBlock[] {
  const lines = text.split('\n')
  const blocks: CodeBlock[] = []
  for (let i = 0; i < lines.length; i++) {
    if (/^\s*<!--\s*sample:/.test(lines[i]) && parseMarker(lines[i]) === undefined) {
      throw new Error(`${file}:${i + 1}: a malformed sample marker: ${lines[i].trim()}`)
    }
    const open = FENCE.exec(lines[i])
    if (open === null) continue
    const [, indent, fence, info] = open
    const body: string[] = []
    let j = i + 1
    for (; j < lines.length; j++) {
      const close = lines[j]
      if (close.trimStart().startsWith(fence) && close.trim().replace(/[`~]/g, '') === '') break
      body.push(close.startsWith(indent) ? close.slice(indent.length) : close.trimStart())
    }
    if (j === lines.length) throw new Error(`${file}:${i + 1}: the code fence is never closed`)
    let k = i - 1
    while (k >= 0 && lines[k].trim() === '') k--
    const marker = k >= 0 ? parseMarker(lines[k]) : undefined
    blocks.push({ file, line: i + 1, lang: info.toLowerCase(), code: body.join('\n'), marker })
    i = j
  }
  return blocks
}

/** The text with fenced code blocks blanked (line count kept), so nothing inside them counts as a heading or link. */
export function proseOnly (text: string): string {
  const lines = text.split('\n')
  let fence: string | undefined
  return lines.map((line) => {
    const open = FENCE.exec(line)
    if (fence === undefined) {
      if (open !== null) { fence = open[2]; return '' }
      return line
    }
    if (line.trimStart().startsWith(fence) && line.trim().replace(/[`~]/g, '') === '') fence = undefined
    return ''
  }).join('\n')
}

/** GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces as hyphens. */
export function githubAnchor (heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-')
}

/** The anchors of a document's headings, as GitHub makes them (a repeated heading gets -1, -2, ...). */
export function headingAnchors (text: string): Set<string> {
  const seen = new Map<string, number>()
  const anchors = new Set<string>()
  for (const m of proseOnly(text).matchAll(/^#{1,6} +(.+?) *#*$/gm)) {
    const base = githubAnchor(m[1])
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    anchors.add(n === 0 ? base : `${base}-${n}`)
  }
  return anchors
}

export interface Link { line: number, target: string }

/** Inline links and images `[text](target)` outside code (fenced blocks and `inline code`). */
export function links (text: string): Link[] {
  const out: Link[] = []
  proseOnly(text).split('\n').forEach((line, i) => {
    const prose = line.replace(/`[^`]*`/g, '')
    for (const m of prose.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) out.push({ line: i + 1, target: m[1] })
  })
  return out
}
