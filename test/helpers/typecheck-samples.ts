/**
 * Type-checks the TypeScript and JavaScript samples of the docs in one TypeScript program. Each
 * sample is a virtual module in <repo>/.doc-samples/ (never written to disk), compiled with the
 * project's tsconfig.json, so `s3-ipfs-gateway` and its subpaths resolve to the sources (the
 * tsconfig `paths`, as package.json `exports` / tsup.config.ts map them to dist/) and every other
 * import to the project's node_modules.
 */
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import type { CodeBlock } from './markdown.js'

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** Fence languages that are type-checked. */
export const CHECKED_LANGS = new Set(['ts', 'typescript', 'js', 'javascript', 'mjs'])

/** A module made of one block, or of a block and the blocks marked `continues` after it. */
export interface SampleModule {
  blocks: CodeBlock[]
}

export interface SampleDiagnostic {
  /** `file:line` of the Markdown line the diagnostic points at. */
  where: string
  message: string
}

const DIR = join(REPO_ROOT, '.doc-samples')

/** Groups checked blocks into modules: a block marked `continues` joins the module of the checked block before it in the same file. */
export function sampleModules (blocks: CodeBlock[]): SampleModule[] {
  const modules: SampleModule[] = []
  for (const block of blocks) {
    if (!CHECKED_LANGS.has(block.lang) || block.marker?.kind === 'skip') continue
    const last = modules.at(-1)
    if (block.marker?.kind === 'continues') {
      if (last === undefined || last.blocks[0].file !== block.file) throw new Error(`${block.file}:${block.line}: "continues" with no sample before it in the file`)
      last.blocks.push(block)
    } else {
      modules.push({ blocks: [block] })
    }
  }
  return modules
}

/** The module's source, and for each of its lines the Markdown `file:line` it came from. */
export function moduleSource (module: SampleModule): { text: string, origin: string[] } {
  const lines: string[] = []
  const origin: string[] = []
  for (const block of module.blocks) {
    block.code.split('\n').forEach((line, i) => {
      lines.push(line)
      origin.push(`${block.file}:${block.line + 1 + i}`)
    })
  }
  // a block without imports is still a module (top-level await, no global name clashes)
  lines.push('export {}')
  origin.push(`${module.blocks[0].file}:${module.blocks[0].line}`)
  return { text: lines.join('\n') + '\n', origin }
}

function compilerOptions (): ts.CompilerOptions {
  const path = join(REPO_ROOT, 'tsconfig.json')
  const read = ts.readConfigFile(path, (p) => ts.sys.readFile(p))
  if (read.error !== undefined) throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, '\n'))
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, REPO_ROOT, undefined, path)
  // JavaScript samples are checked as strictly as TypeScript ones
  return { ...parsed.options, noEmit: true, allowJs: true, checkJs: true, declaration: false, incremental: false }
}

function extension (lang: string): string {
  return lang === 'js' || lang === 'javascript' || lang === 'mjs' ? '.mjs' : '.ts'
}

/** Type-checks every module in one program; diagnostics of the samples only, pointing into the Markdown. */
export function typecheckSamples (modules: SampleModule[]): SampleDiagnostic[] {
  const files = new Map<string, { text: string, origin: string[] }>()
  modules.forEach((module, i) => {
    const first = module.blocks[0]
    const name = `${first.file.replace(/[^A-Za-z0-9]/g, '_')}_${first.line}_${i}${extension(first.lang)}`
    files.set(join(DIR, name), moduleSource(module))
  })
  const options = compilerOptions()
  const host = ts.createCompilerHost(options, true)
  const { fileExists, readFile, getSourceFile } = host
  host.fileExists = (f) => files.has(f) || fileExists.call(host, f)
  host.readFile = (f) => files.get(f)?.text ?? readFile.call(host, f)
  host.getSourceFile = (f, languageVersion, onError, shouldCreate) => {
    const own = files.get(f)
    return own !== undefined ? ts.createSourceFile(f, own.text, languageVersion, true) : getSourceFile.call(host, f, languageVersion, onError, shouldCreate)
  }

  const program = ts.createProgram({ rootNames: [...files.keys()], options, host })
  const out: SampleDiagnostic[] = []
  for (const [name, { origin }] of files) {
    const sourceFile = program.getSourceFile(name)
    if (sourceFile === undefined) throw new Error(`${name}: not in the program`)
    for (const d of [...program.getSyntacticDiagnostics(sourceFile), ...program.getSemanticDiagnostics(sourceFile)]) {
      const line = d.start === undefined ? 0 : sourceFile.getLineAndCharacterOfPosition(d.start).line
      out.push({ where: origin[Math.min(line, origin.length - 1)], message: ts.flattenDiagnosticMessageText(d.messageText, '\n') })
    }
  }
  return out
}
