/**
 * The dashboard's browser code, bundled by `npm run build:dashboard` (scripts/build-dashboard.ts) into
 * assets.generated.ts; page.ts inlines the bundle. It polls `<page path>/data` (DashboardData) every
 * 5 s and draws the samples with uPlot into the page's `<figure data-chart>` elements, and fills the
 * tiles (dependencies, pins, gc, storage). A failed poll shows the "disconnected" banner, keeps the
 * last data on screen and tries again on the next tick.
 */
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import './style.css'
import type { DashboardData, DashboardDependency, DashboardSample } from '../history.js'
import type { BrowserGlobals, DomElement } from './browser-types.js'

const browser = globalThis as unknown as BrowserGlobals & { __dashboard?: unknown }
const { document, location } = browser

const POLL_MS = 5_000
const FETCH_TIMEOUT_MS = 4_500
const CHART_HEIGHT = 200
/** Operations drawn separately in the request and error charts; the rest are summed as "other". */
const TOP_OPERATIONS = 6
const PALETTE = ['#2563eb', '#16a34a', '#d97706', '#9333ea', '#0891b2', '#db2777', '#65a30d', '#64748b']
const RED = '#dc2626'
const GREY = '#475569'

type ChartName = 'requests' | 'errors' | 'latency' | 'bytes' | 'inflight' | 'cache'

interface Line {
  label: string
  values: Array<number | null>
  color: string
  dash?: number[]
  fill?: boolean
}

interface Drawn {
  plot: uPlot
  /** The labels the chart was made with; a different set means a new chart. */
  key: string
}

const dataUrl = location.pathname.replace(/\/+$/, '') + '/data'
const charts: Partial<Record<ChartName, uPlot>> = {}
const drawn = new Map<ChartName, Drawn>()
/** For tests and the curious: the charts, the last data and how many polls succeeded / failed. */
const state = { charts, data: null as DashboardData | null, updates: 0, failures: 0, lastError: '' }
browser.__dashboard = state

function $ (selector: string): DomElement | null {
  return document.querySelector(selector)
}

function el (tag: string, className?: string, text?: string): DomElement {
  const node = document.createElement(tag)
  if (className !== undefined) node.className = className
  if (text !== undefined) node.textContent = text
  return node
}

// ---- formatting

function fmtNumber (n: number, digits = 1): string {
  if (!Number.isFinite(n)) return '–'
  if (Math.abs(n) >= 1e9) return (n / 1e9).toFixed(digits) + ' G'
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(digits) + ' M'
  if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(digits) + ' k'
  return Number.isInteger(n) ? String(n) : n.toFixed(n < 10 ? 2 : digits)
}

/** Exact, with thousands separators: counts in the tiles. */
function fmtCount (n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–'
}

function fmtBytes (n: number): string {
  if (!Number.isFinite(n)) return '–'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let i = 0
  let v = Math.abs(n)
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${n < 0 ? '-' : ''}${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`
}

function fmtMs (ms: number): string {
  if (ms === 0) return '0 ms'
  if (ms < 1) return ms.toFixed(2) + ' ms'
  if (ms < 1000) return ms.toFixed(ms < 10 ? 1 : 0) + ' ms'
  return (ms / 1000).toFixed(2) + ' s'
}

function fmtAgo (t: number | null, now: number): string {
  if (t === null) return 'never'
  const s = Math.max(0, Math.round((now - t) / 1000))
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.round(s / 60)} min ago`
  if (s < 86400) return `${(s / 3600).toFixed(1)} h ago`
  return `${(s / 86400).toFixed(1)} d ago`
}

function fmtTime (t: number): string {
  return new Date(t).toLocaleTimeString()
}

// ---- the series of each chart

function sum (record: Record<string, number>): number {
  let total = 0
  for (const k in record) total += record[k]
  return total
}

/** The busiest operations over the window by `pick`, then "other" for the rest. */
function perOperation (samples: DashboardSample[], pick: (s: DashboardSample) => Record<string, number>, perSecond: number[]): Line[] {
  const totals = new Map<string, number>()
  for (const s of samples) {
    const r = pick(s)
    for (const op in r) totals.set(op, (totals.get(op) ?? 0) + r[op])
  }
  const ranked = [...totals.entries()].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([op]) => op)
  const top = ranked.length > TOP_OPERATIONS ? ranked.slice(0, TOP_OPERATIONS - 1) : ranked
  const lines: Line[] = top.map((op, i) => ({
    label: op,
    color: PALETTE[i % PALETTE.length],
    values: samples.map((s, i) => (pick(s)[op] ?? 0) * perSecond[i]),
  }))
  if (ranked.length > top.length) {
    const rest = new Set(ranked.slice(top.length))
    lines.push({
      label: 'other',
      color: PALETTE[PALETTE.length - 1],
      values: samples.map((s, i) => {
        let n = 0
        const r = pick(s)
        for (const op in r) if (rest.has(op)) n += r[op]
        return n * perSecond[i]
      }),
    })
  }
  return lines
}

/**
 * Per sample, what turns its counts into a rate per second: 1 / interval, except for the newest
 * interval, which is still filling, where the counts so far are divided by the time gone by (so the
 * right edge of a rate chart does not dip every time a new interval begins).
 */
function rateFactors (data: DashboardData): number[] {
  const intervalMs = data.intervalSeconds * 1000
  return data.samples.map(s => {
    const elapsed = Math.min(intervalMs, Math.max(1000, data.now - s.t))
    return 1000 / elapsed
  })
}

function linesOf (name: ChartName, data: DashboardData): Line[] {
  const samples = data.samples
  const perSecond = rateFactors(data)
  switch (name) {
    case 'requests': {
      const lines = perOperation(samples, s => s.requests, perSecond)
      if (lines.length > 1) lines.unshift({ label: 'all', color: GREY, dash: [4, 3], values: samples.map((s, i) => sum(s.requests) * perSecond[i]) })
      if (lines.length === 0) lines.push({ label: 'all', color: GREY, values: samples.map(() => 0) })
      return lines
    }
    case 'errors': {
      const lines = perOperation(samples, s => s.errors, perSecond)
      lines.push({ label: '5xx (all)', color: RED, dash: [4, 3], values: samples.map((s, i) => s.serverErrors * perSecond[i]) })
      return lines
    }
    case 'latency':
      return [
        { label: 'p50', color: PALETTE[0], values: samples.map(s => s.p50 === null ? null : s.p50 * 1000) },
        { label: 'p99', color: PALETTE[2], values: samples.map(s => s.p99 === null ? null : s.p99 * 1000) },
      ]
    case 'bytes':
      return [
        { label: 'in (received)', color: PALETTE[1], values: samples.map((s, i) => s.receivedBytes * perSecond[i]) },
        { label: 'out (sent)', color: PALETTE[0], values: samples.map((s, i) => s.sentBytes * perSecond[i]) },
      ]
    case 'inflight':
      return [{ label: 'in flight (max)', color: PALETTE[3], fill: true, values: samples.map(s => s.inFlight) }]
    case 'cache':
      return [{
        label: 'hit ratio',
        color: PALETTE[4],
        fill: true,
        values: samples.map(s => {
          const lookups = s.cacheHits + s.cacheMisses
          return lookups === 0 ? null : (100 * s.cacheHits) / lookups
        }),
      }]
  }
}

/** Axis tick labels and legend values of each chart. */
const UNITS: Record<ChartName, { axis: (v: number) => string, range?: uPlot.Scale.Range }> = {
  requests: { axis: v => fmtNumber(v) + '/s' },
  errors: { axis: v => fmtNumber(v) + '/s' },
  latency: { axis: v => fmtMs(v) },
  bytes: { axis: v => fmtBytes(v) + '/s' },
  inflight: { axis: v => fmtNumber(v, 0) },
  cache: { axis: v => v.toFixed(0) + ' %', range: [0, 100] },
}

/**
 * The sample that stands for "now" in the titles and legends: the newest one once half of its
 * interval has gone by, else the one before (a just-begun interval has too little in it to say much).
 */
function latestIndex (data: DashboardData): number {
  const n = data.samples.length
  if (n < 2) return n - 1
  return data.now - data.samples[n - 1].t >= (data.intervalSeconds * 1000) / 2 ? n - 1 : n - 2
}

/** "Now" under each chart's title. */
function summary (name: ChartName, data: DashboardData): string {
  const samples = data.samples
  const index = latestIndex(data)
  const last = samples[index]
  if (last === undefined) return ''
  const perSecond = rateFactors(data)[index]
  switch (name) {
    case 'requests': return `${fmtNumber(sum(last.requests) * perSecond)} req/s`
    case 'errors': return `${fmtNumber(sum(last.errors) * perSecond)} errors/s, ${fmtNumber(last.serverErrors * perSecond)} 5xx/s`
    case 'latency': return last.p50 === null || last.p99 === null ? 'no requests' : `p50 ${fmtMs(last.p50 * 1000)}, p99 ${fmtMs(last.p99 * 1000)}`
    case 'bytes': return `in ${fmtBytes(last.receivedBytes * perSecond)}/s, out ${fmtBytes(last.sentBytes * perSecond)}/s`
    case 'inflight': return `${last.inFlight} at most`
    case 'cache': {
      let hits = 0
      let lookups = 0
      for (const s of samples) {
        hits += s.cacheHits
        lookups += s.cacheHits + s.cacheMisses
      }
      return lookups === 0 ? 'no lookups' : `${((100 * hits) / lookups).toFixed(1)} % of ${fmtCount(lookups)} lookups`
    }
  }
}

// ---- charts

function plotWidth (figure: DomElement): number {
  return Math.max(240, Math.floor(figure.querySelector('.plot')?.clientWidth ?? figure.clientWidth))
}

/** Indices of values with no value on either side. */
function isolated (u: uPlot, seriesIdx: number): number[] {
  const ys = u.data[seriesIdx]
  const out: number[] = []
  for (let i = 0; i < ys.length; i++) {
    if (ys[i] != null && (i === 0 || ys[i - 1] == null) && (i === ys.length - 1 || ys[i + 1] == null)) out.push(i)
  }
  return out
}

/** Away from the cursor, the legend shows the values of "now" (see latestIndex) instead of dashes. */
function showLatest (u: uPlot): void {
  if (u.cursor.idx !== null && u.cursor.idx !== undefined) return
  if (state.data !== null && state.data.samples.length === u.data[0].length && u.data[0].length > 0) u.setLegend({ idx: latestIndex(state.data) }, false)
}

function makeChart (name: ChartName, figure: DomElement, lines: Line[], x: number[]): uPlot {
  const container = figure.querySelector('.plot') ?? figure
  container.replaceChildren()
  const unit = UNITS[name]
  const options: uPlot.Options = {
    width: plotWidth(figure),
    height: CHART_HEIGHT,
    cursor: { drag: { x: false, y: false } },
    legend: { live: true },
    hooks: { ready: [showLatest], setCursor: [showLatest] },
    scales: { x: { time: true }, y: { range: unit.range ?? ((_u, _min, max) => [0, max > 0 ? max * 1.1 : 1]) } },
    axes: [
      { stroke: '#334155', grid: { stroke: '#e2e8f0' }, ticks: { stroke: '#cbd5e1' } },
      {
        stroke: '#334155',
        grid: { stroke: '#e2e8f0' },
        ticks: { stroke: '#cbd5e1' },
        values: (_u, splits) => splits.map(v => unit.axis(v)),
        // wide enough for the longest tick label ("1.81 MiB/s"), narrow for short ones
        size: (_u, values) => Math.max(40, Math.ceil(Math.max(0, ...(values ?? []).map(v => v.length)) * 7.2) + 18),
      },
    ],
    series: [
      { value: (_u, v) => v === null ? '–' : fmtTime(v * 1000) },
      ...lines.map((line): uPlot.Series => ({
        label: line.label,
        stroke: line.color,
        width: 1.5,
        dash: line.dash,
        fill: line.fill === true ? line.color + '22' : undefined,
        spanGaps: false,
        // a lone value between gaps (one interval with requests) has no line to draw: mark it with a dot
        points: { show: true, size: 6, fill: line.color, filter: isolated },
        value: (_u, v) => v === null ? '–' : unit.axis(v),
      })),
    ],
  }
  return new uPlot(options, [x, ...lines.map(l => l.values)] as uPlot.AlignedData, container)
}

function drawChart (name: ChartName, data: DashboardData): void {
  const figure = $(`figure[data-chart="${name}"]`)
  if (figure === null) return
  const lines = linesOf(name, data)
  const x = data.samples.map(s => s.t / 1000)
  const key = lines.map(l => l.label).join('\u0000')
  const current = drawn.get(name)
  if (current !== undefined && current.key === key) {
    current.plot.setData([x, ...lines.map(l => l.values)] as uPlot.AlignedData)
    showLatest(current.plot)
  } else {
    current?.plot.destroy()
    const plot = makeChart(name, figure, lines, x)
    drawn.set(name, { plot, key })
    charts[name] = plot
  }
  const now = figure.querySelector('.now')
  if (now !== null) now.textContent = summary(name, data)
}

const resize = new browser.ResizeObserver(() => {
  for (const [name, { plot }] of drawn) {
    const figure = $(`figure[data-chart="${name}"]`)
    if (figure === null) continue
    const width = plotWidth(figure)
    if (width !== plot.width) plot.setSize({ width, height: CHART_HEIGHT })
  }
})
for (const figure of document.querySelectorAll('figure[data-chart] .plot')) resize.observe(figure)

// ---- tiles

function tile (title: string, rows: Array<[string, string, boolean?]>, className = 'tile'): DomElement {
  const box = el('div', className)
  box.append(el('h3', undefined, title))
  const dl = el('dl')
  for (const [name, value, bad] of rows) {
    const dd = el('dd', bad === true ? 'bad' : undefined, value)
    dl.append(el('dt', undefined, name), dd)
  }
  box.append(dl)
  return box
}

function dependencyTile (dep: DashboardDependency): DomElement {
  const rows: Array<[string, string, boolean?]> = [
    ['backend', dep.backend],
    ['check', fmtMs(dep.latencyMs)],
    ['role', dep.required ? 'required' : 'optional'],
  ]
  const box = tile(dep.name, rows, `tile dependency ${dep.status === 'up' ? 'up' : 'down'}`)
  if (dep.error !== undefined && dep.error !== '') box.append(el('p', 'error', dep.error))
  box.dataset.dependency = dep.name
  box.dataset.status = dep.status === 'up' ? 'up' : 'down'
  const badge = el('span', 'badge', dep.status === 'up' ? 'up' : 'down')
  box.querySelector('h3')?.append(badge)
  return box
}

function drawTiles (data: DashboardData): void {
  const deps = $('#dependencies')
  if (deps !== null) {
    const tiles = data.dependencies.map(dependencyTile)
    if (tiles.length === 0) tiles.push(tile('dependencies', [['checks', 'none reported']]))
    deps.replaceChildren(...tiles)
  }
  const status = $('#status')
  if (status !== null) {
    const gc = data.gc
    const pins = tile('pins', [
      ['pinned', fmtCount(data.pins.pinned)],
      ['failed', fmtCount(data.pins.failed), data.pins.failed > 0],
    ])
    pins.dataset.tile = 'pins'
    const gcTile = tile('garbage collection', [
      ['last run', fmtAgo(gc.lastRun, data.now)],
      ['result', gc.lastResult ?? '–', gc.lastResult === 'error'],
      ['last ok', fmtAgo(gc.lastSuccess, data.now)],
      ['freed', fmtBytes(gc.freedBytes)],
      ['missing', `${fmtCount(gc.missingBlocks)} blocks`, gc.missingBlocks > 0],
    ])
    gcTile.dataset.tile = 'gc'
    const storage = data.storage === null
      ? tile('storage', [])
      : tile('storage', [
        ['buckets', fmtCount(data.storage.buckets)],
        ['objects', fmtCount(data.storage.objects)],
        ['bytes', fmtBytes(data.storage.bytes)],
        ['uploads', fmtCount(data.storage.uploads)],
      ])
    if (data.storage === null) storage.append(el('p', 'note', 'The metadata store keeps no totals.'))
    storage.dataset.tile = 'storage'
    status.replaceChildren(pins, gcTile, storage)
  }
  const windowTitle = $('#window')
  if (windowTitle !== null) {
    const minutes = (data.samples.length * data.intervalSeconds) / 60
    windowTitle.textContent = `Last ${minutes >= 1 ? `${Number(minutes.toFixed(1))} minutes` : `${data.samples.length * data.intervalSeconds} seconds`}, one point per ${data.intervalSeconds} s`
  }
  const version = $('#version')
  if (version !== null) version.textContent = 'v' + data.version
}

// ---- polling

function connected (ok: boolean, message = ''): void {
  const banner = $('#banner')
  document.body.dataset.connection = ok ? 'connected' : 'disconnected'
  if (banner !== null) {
    banner.hidden = ok
    if (!ok) {
      const since = state.data === null ? '' : ` Showing data from ${fmtTime(state.data.now)}.`
      banner.textContent = `Disconnected: ${message}. Retrying every ${POLL_MS / 1000} s.${since}`
    }
  }
}

function isDashboardData (value: unknown): value is DashboardData {
  const d = value as Partial<DashboardData> | null
  return typeof d === 'object' && d !== null && Array.isArray(d.samples) && Array.isArray(d.dependencies) &&
    typeof d.intervalSeconds === 'number' && typeof d.now === 'number'
}

async function poll (): Promise<void> {
  const controller = new AbortController()
  const timer = setTimeout(() => { controller.abort() }, FETCH_TIMEOUT_MS)
  try {
    const res = await fetch(dataUrl, {
      credentials: 'same-origin',
      signal: controller.signal,
      // a fresh answer every time, whatever caches sit in between
      headers: { accept: 'application/json', 'cache-control': 'no-cache' },
    })
    if (!res.ok) throw new Error(`${dataUrl} answered ${res.status}${res.statusText === '' ? '' : ' ' + res.statusText}`)
    const data: unknown = await res.json()
    if (!isDashboardData(data)) throw new Error(`${dataUrl} did not answer dashboard data`)
    state.data = data
    drawTiles(data)
    for (const name of Object.keys(UNITS) as ChartName[]) drawChart(name, data)
    const updated = $('#updated')
    if (updated !== null) updated.textContent = `updated ${fmtTime(data.now)}`
    state.updates++
    connected(true)
  } catch (err) {
    state.failures++
    state.lastError = controller.signal.aborted ? 'timed out' : (err as Error).message
    connected(false, state.lastError)
  } finally {
    clearTimeout(timer)
    setTimeout(() => { void poll() }, POLL_MS)
  }
}

void poll()
