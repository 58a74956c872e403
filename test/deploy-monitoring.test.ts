/**
 * The monitoring kit in deploy/: the Prometheus alert rules and their unit tests, the example
 * Prometheus and Alertmanager configurations, and the Grafana dashboard. promtool and amtool
 * (Debian's prometheus and prometheus-alertmanager) check what they can: rules, configs and every
 * dashboard query parse, and the rules' unit tests pass. The rest is checked here: every alert has
 * a firing and a quiet test case and a runbook section, and every metric named anywhere is one of
 * the contract's families (test/fixtures/metric-names.txt). Without the tools their tests skip
 * with the reason, or fail under S3IPFS_REQUIRE_SERVICES=1 (.ci/run installs them).
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import test from 'ava'
import { parse } from 'yaml'
import { whenServices } from './helpers/services.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const ALERTS = 'deploy/prometheus/alerts.yml'
const ALERT_TESTS = 'deploy/prometheus/alerts.test.yml'
const PROMETHEUS_CONFIG = 'deploy/prometheus/prometheus.yml'
const ALERTMANAGER_CONFIG = 'deploy/prometheus/alertmanager.yml'
const DASHBOARD = 'deploy/grafana/s3-ipfs-gateway.json'
const METRIC_NAMES = 'test/fixtures/metric-names.txt'
/** Where the alerts' runbook_url anchors must exist (to become README.md's "Alert runbook" section). */
const RUNBOOK = 'README.md'

/** prom-client's default process metrics (collectDefaultMetrics with the s3ipfs_ prefix) that the kit uses. */
const PROCESS_METRICS = [
  's3ipfs_process_resident_memory_bytes',
  's3ipfs_process_cpu_seconds_total',
  's3ipfs_nodejs_eventloop_lag_p99_seconds',
]
/** Metrics that are not the gateway's own: Prometheus' scrape health. */
const PROMETHEUS_METRICS = ['up']
/** Families the dashboard does not show, and why. */
const NOT_ON_DASHBOARD = new Map([
  ['s3ipfs_bucket_requests_total', 'opt-in per bucket (allow-list): one series per bucket'],
  ['s3ipfs_bucket_received_bytes_total', 'opt-in per bucket (allow-list): one series per bucket'],
  ['s3ipfs_bucket_sent_bytes_total', 'opt-in per bucket (allow-list): one series per bucket'],
  ['s3ipfs_bucket_stored_bytes', 'opt-in per bucket (allow-list): one series per bucket'],
])

const exec = promisify(execFile)

async function text (path: string): Promise<string> {
  return await readFile(join(ROOT, path), 'utf8')
}

/** An executable of that name on PATH, or undefined. */
function which (name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && existsSync(join(dir, name))) return join(dir, name)
  }
  return undefined
}

/** Runs a command in the repository root; a non-zero exit is a result, not an exception. */
async function run (file: string, args: string[]): Promise<{ code: number, output: string }> {
  try {
    const { stdout, stderr } = await exec(file, args, { cwd: ROOT, timeout: 120_000 })
    return { code: 0, output: `${stdout}${stderr}` }
  } catch (err) {
    const e = err as { code?: unknown, stdout?: string, stderr?: string }
    if (typeof e.code !== 'number') throw err
    return { code: e.code, output: `${e.stdout ?? ''}${e.stderr ?? ''}` }
  }
}

// --- the files, parsed -------------------------------------------------------------------------

interface Rule { alert?: string, record?: string, expr: string, for?: string, labels?: Record<string, string>, annotations?: Record<string, string> }
interface RuleFile { groups: Array<{ name: string, rules: Rule[] }> }
interface ExpAlert { exp_labels?: Record<string, string>, exp_annotations?: Record<string, string> }
interface RuleTestFile {
  rule_files: string[]
  tests: Array<{ alert_rule_test?: Array<{ eval_time: string, alertname: string, exp_alerts?: ExpAlert[] | null }> }>
}
interface Target { expr?: string, refId?: string, datasource?: { type?: string, uid?: string } }
interface Panel { id: number, type: string, title: string, gridPos: { x: number, y: number, w: number, h: number }, datasource?: { uid?: string }, targets?: Target[], panels?: Panel[] }
interface Dashboard { schemaVersion: number, uid: string, panels: Panel[], templating: { list: Array<{ name: string, type: string, query: unknown, definition?: string }> } }

async function alertRules (): Promise<Rule[]> {
  const file = parse(await text(ALERTS)) as RuleFile
  return file.groups.flatMap((g) => g.rules).filter((r) => r.alert !== undefined)
}

function allPanels (panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])])
}

/** Every PromQL query of the dashboard, named for messages: its targets and its variables' label_values() selectors. */
function dashboardQueries (dashboard: Dashboard): Array<{ name: string, expr: string }> {
  const queries: Array<{ name: string, expr: string }> = []
  for (const panel of allPanels(dashboard.panels)) {
    for (const target of panel.targets ?? []) {
      queries.push({ name: `panel "${panel.title}" (${panel.id}) target ${target.refId ?? '?'}`, expr: target.expr ?? '' })
    }
  }
  for (const variable of dashboard.templating.list) {
    if (variable.type !== 'query') continue
    const query = typeof variable.query === 'string' ? variable.query : (variable.query as { query: string }).query
    const m = query.match(/^label_values\((.*),\s*\w+\)$/s)
    queries.push({ name: `variable $${variable.name}`, expr: m === null ? query : m[1] })
  }
  return queries
}

/** Grafana's variables replaced by what Prometheus would receive for a 6 hour range, every instance selected. */
function substituteVariables (expr: string): string {
  return expr
    .replace(/\$\{?__rate_interval\}?/g, '5m')
    .replace(/\$\{?__interval\}?/g, '1m')
    .replace(/\$\{?__range\}?/g, '6h')
    .replace(/\$\{?\w+(?::\w+)?\}?/g, '.*')
}

const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'atan2', 'inf', 'nan'])

/**
 * The metric names a PromQL expression selects: the identifiers left once strings, label matchers,
 * ranges, grouping clauses and function calls are taken out. Enough for the expressions of this kit
 * (promtool has checked they parse); not a PromQL parser.
 */
function selectedMetrics (expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
  const names = [...bare.matchAll(/(?<![\w:.])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()/g)].map((m) => m[1])
  return names.filter((n) => !PROMQL_KEYWORDS.has(n.toLowerCase()))
}

/** The contract's families with their types: name -> counter | gauge | histogram. */
async function contractFamilies (): Promise<Map<string, string>> {
  const lines = (await text(METRIC_NAMES)).split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
  return new Map(lines.map((l) => l.split(/\s+/) as [string, string]))
}

/** The family a sample name belongs to (a histogram's _bucket, _sum and _count are its family), or undefined. */
function familyOf (name: string, families: Map<string, string>): string | undefined {
  if (families.has(name)) return name
  const m = name.match(/^(.*)_(?:bucket|sum|count)$/)
  if (m !== null && families.get(m[1]) === 'histogram') return m[1]
  return undefined
}

/** GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces as hyphens. */
function githubAnchor (heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-')
}

// --- checks that need no tool ------------------------------------------------------------------

test('alerts.yml: every alert has a severity, a summary, a description and a runbook section', async (t) => {
  const rules = await alertRules()
  t.true(rules.length > 0)
  // The runbook is README's "### Alert runbook" section, up to the next heading of its level or above.
  const readme = await text(RUNBOOK)
  const start = readme.search(/^### Alert runbook$/m)
  const body = readme.indexOf('\n', start) + 1
  const end = readme.slice(body).search(/^#{1,3} /m)
  const runbook = start < 0 ? '' : readme.slice(start, end < 0 ? undefined : body + end)
  const headings = new Map([...runbook.matchAll(/^#### (.+)$/gm)].map((m) => [githubAnchor(m[1]), m[1].trim()]))
  t.regex(runbook, /^### Alert runbook$/m)
  for (const rule of rules) {
    const name = rule.alert as string
    t.regex(rule.labels?.severity ?? '', /^(critical|warning)$/, `${name}: labels.severity`)
    t.truthy(rule.annotations?.summary, `${name}: annotations.summary`)
    t.truthy(rule.annotations?.description, `${name}: annotations.description`)
    const url = rule.annotations?.runbook_url ?? ''
    t.is(url, `README.md#${githubAnchor(name)}`, `${name}: runbook_url is README.md#<the anchor of the heading "#### ${name}">`)
    t.is(headings.get(githubAnchor(name)), name, `${name}: ${RUNBOOK} has a heading "#### ${name}"`)
  }
  const alertNames = new Set(rules.map((r) => r.alert))
  for (const heading of headings.values()) t.true(alertNames.has(heading), `${RUNBOOK}: "#### ${heading}" is not an alert in ${ALERTS}`)
})

test('alerts.test.yml: every alert has a case where it fires and one where it does not', async (t) => {
  const names = new Set((await alertRules()).map((r) => r.alert as string))
  const file = parse(await text(ALERT_TESTS)) as RuleTestFile
  t.deepEqual(file.rule_files, ['alerts.yml'])
  const firing = new Set<string>()
  const quiet = new Set<string>()
  for (const group of file.tests) {
    for (const c of group.alert_rule_test ?? []) {
      t.true(names.has(c.alertname), `${ALERT_TESTS}: ${c.alertname} at ${c.eval_time} is not an alert in ${ALERTS}`)
      const expected = c.exp_alerts ?? []
      if (expected.length === 0) {
        quiet.add(c.alertname)
        continue
      }
      firing.add(c.alertname)
      for (const alert of expected) {
        t.regex(alert.exp_labels?.severity ?? '', /^(critical|warning)$/, `${c.alertname} at ${c.eval_time}: exp_labels.severity`)
        t.truthy(alert.exp_annotations?.summary, `${c.alertname} at ${c.eval_time}: exp_annotations.summary`)
      }
    }
  }
  for (const name of names) {
    t.true(firing.has(name), `${ALERT_TESTS} has no case where ${name} fires`)
    t.true(quiet.has(name), `${ALERT_TESTS} has no case where ${name} stays quiet (exp_alerts: [])`)
  }
})

test('every metric the alerts and the dashboard name is a contract family (or a listed process metric, or up)', async (t) => {
  const families = await contractFamilies()
  t.true(families.size > 0)
  const known = (name: string): boolean => familyOf(name, families) !== undefined || PROCESS_METRICS.includes(name)
  const dashboard = JSON.parse(await text(DASHBOARD)) as Dashboard
  const queries = [
    ...(await alertRules()).map((r) => ({ name: `alert ${r.alert as string}`, expr: r.expr })),
    ...dashboardQueries(dashboard).map((q) => ({ name: q.name, expr: substituteVariables(q.expr) })),
  ]
  for (const { name, expr } of queries) {
    const metrics = selectedMetrics(expr)
    t.true(metrics.length > 0, `${name}: no metric found in ${expr}`)
    for (const metric of metrics) {
      t.true(known(metric) || PROMETHEUS_METRICS.includes(metric), `${name}: ${metric} is not a metric family of ${METRIC_NAMES}`)
    }
  }
  // Names in descriptions and comments too: a renamed family must not survive in prose.
  for (const file of [ALERTS, ALERT_TESTS, DASHBOARD]) {
    for (const [name] of (await text(file)).matchAll(/\bs3ipfs_[a-z0-9_]+/g)) {
      t.true(known(name), `${file}: ${name} is not a metric family of ${METRIC_NAMES}`)
    }
  }
  // and each family is on the dashboard, or said why not
  const shown = new Set(queries.filter((q) => !q.name.startsWith('alert ')).flatMap((q) => selectedMetrics(q.expr)).map((m) => familyOf(m, families)))
  for (const family of families.keys()) {
    t.true(shown.has(family) || NOT_ON_DASHBOARD.has(family), `${DASHBOARD} shows no ${family}`)
  }
})

test('dashboard: a datasource and an instance variable, every query through them, rates over $__rate_interval', async (t) => {
  const dashboard = JSON.parse(await text(DASHBOARD)) as Dashboard
  t.true(dashboard.schemaVersion >= 36, 'schemaVersion')
  t.is(dashboard.uid, 's3-ipfs-gateway')
  const variables = new Map(dashboard.templating.list.map((v) => [v.name, v]))
  t.like(variables.get('datasource'), { type: 'datasource', query: 'prometheus' })
  t.like(variables.get('instance'), { type: 'query' })
  const panels = allPanels(dashboard.panels)
  const ids = panels.map((p) => p.id)
  t.is(new Set(ids).size, ids.length, 'panel ids are unique')
  for (const panel of panels) {
    t.true(panel.gridPos.x >= 0 && panel.gridPos.w > 0 && panel.gridPos.x + panel.gridPos.w <= 24, `panel "${panel.title}": gridPos`)
    if (panel.type === 'row') continue
    t.is(panel.datasource?.uid, '${datasource}', `panel "${panel.title}": datasource`)
    t.true((panel.targets ?? []).length > 0, `panel "${panel.title}" has targets`)
    for (const target of panel.targets ?? []) {
      t.is(target.datasource?.uid, '${datasource}', `panel "${panel.title}" target ${target.refId ?? '?'}: datasource`)
      const expr = target.expr ?? ''
      t.regex(expr, /instance=~"\$instance"/, `panel "${panel.title}" target ${target.refId ?? '?'}: selects $instance`)
      for (const [, range] of expr.matchAll(/\[([^\]]*)\]/g)) {
        t.true(range === '$__rate_interval' || range === '$__range', `panel "${panel.title}": range [${range}] (use $__rate_interval, or $__range for totals)`)
      }
    }
  }
})

// --- checks by promtool and amtool -------------------------------------------------------------

const PROMTOOL = which('promtool')
const AMTOOL = which('amtool')

whenServices('promtool', PROMTOOL === undefined ? 'promtool is not on PATH (apt-get install prometheus)' : undefined, () => {
  const promtool = PROMTOOL as string

  test('promtool check rules: alerts.yml', async (t) => {
    const { code, output } = await run(promtool, ['check', 'rules', ALERTS])
    t.is(code, 0, output)
  })

  test('promtool test rules: alerts.test.yml', async (t) => {
    const { code, output } = await run(promtool, ['test', 'rules', ALERT_TESTS])
    t.is(code, 0, output)
  })

  test('promtool check config: prometheus.yml and the rule files it loads', async (t) => {
    const { code, output } = await run(promtool, ['check', 'config', PROMETHEUS_CONFIG])
    t.is(code, 0, output)
    t.regex(output, /1 rule files found/)
  })

  test('promtool check rules: every dashboard query parses', async (t) => {
    const dashboard = JSON.parse(await text(DASHBOARD)) as Dashboard
    const queries = dashboardQueries(dashboard)
    t.true(queries.length > 20)
    // One recording rule per query, named after its index; JSON is YAML.
    const rules = { groups: [{ name: 'dashboard', rules: queries.map((q, i) => ({ record: `dashboard:query_${i}`, expr: substituteVariables(q.expr) })) }] }
    const dir = await mkdtemp(join(tmpdir(), 's3ipfs-dashboard-'))
    t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
    const file = join(dir, 'dashboard-queries.yml')
    await writeFile(file, JSON.stringify(rules, null, 2))
    const { code, output } = await run(promtool, ['check', 'rules', '--lint=none', file])
    const failing = [...output.matchAll(/dashboard:query_(\d+)/g)].map((m) => queries[Number(m[1])])
    t.is(code, 0, `${output}\n${failing.map((q) => `${q.name}: ${q.expr}`).join('\n')}`)
    t.regex(output, new RegExp(`SUCCESS: ${queries.length} rules found`))
  })
})

whenServices('amtool', AMTOOL === undefined ? 'amtool is not on PATH (apt-get install prometheus-alertmanager)' : undefined, () => {
  test('amtool check-config: alertmanager.yml', async (t) => {
    const { code, output } = await run(AMTOOL as string, ['check-config', ALERTMANAGER_CONFIG])
    t.is(code, 0, output)
  })
})
