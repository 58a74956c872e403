/**
 * The dashboard as one self-contained HTML page: the bundled script and style inline, nothing loaded
 * from anywhere else, and a Content-Security-Policy that allows exactly that inline script and style
 * (by hash) plus fetches to the page's own origin. The page polls `<its own path>/data`.
 */
import { createHash } from 'node:crypto'
import { DASHBOARD_SCRIPT, DASHBOARD_STYLE } from './assets.generated.js'

export interface DashboardPageOptions {
  /** Shown as the page title and heading. Default 's3-ipfs-gateway'. */
  title?: string
}

/**
 * Makes a script safe inside <script>…</script>: the HTML parser ends the element at the first
 * `</script` and treats `<!--` specially whatever the JavaScript context. Writing their `<` as `\x3C`
 * means the same in every place these can occur in a bundle (string, template and regular expression
 * literals, comments) and leaves nothing the parser reacts to.
 */
export function escapeInlineScript (script: string): string {
  return script.replace(/<(?=\/script|!--)/gi, '\\x3C')
}

function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`)
}

function sha256 (text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`
}

/** The exact text between the page's <script> and </script>. */
export const DASHBOARD_INLINE_SCRIPT = escapeInlineScript(DASHBOARD_SCRIPT)
/** The exact text between the page's <style> and </style> (CSS never holds `</style`; checked below). */
export const DASHBOARD_INLINE_STYLE = DASHBOARD_STYLE
if (/<\/style/i.test(DASHBOARD_INLINE_STYLE)) throw new Error('dashboard style contains </style')

/** The Content-Security-Policy to send with {@link dashboardPage}'s HTML. */
export const DASHBOARD_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `script-src ${sha256(DASHBOARD_INLINE_SCRIPT)}`,
  `style-src ${sha256(DASHBOARD_INLINE_STYLE)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

const CHARTS: Array<[name: string, title: string]> = [
  ['requests', 'Requests per second, by operation'],
  ['errors', 'Errors (4xx + 5xx) per second, by operation'],
  ['latency', 'Latency p50 / p99'],
  ['bytes', 'Body bytes per second'],
  ['inflight', 'Requests in flight'],
  ['cache', 'Block cache hit ratio'],
]

/** The complete HTML of the dashboard page; serve it with {@link DASHBOARD_CONTENT_SECURITY_POLICY}. */
export function dashboardPage (options: DashboardPageOptions = {}): string {
  const title = escapeHtml(options.title ?? 's3-ipfs-gateway')
  const figures = CHARTS.map(([name, caption]) =>
    `<figure data-chart="${name}"><figcaption><span>${escapeHtml(caption)}</span><span class="now"></span></figcaption><div class="plot"></div></figure>`)
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title}</title>
<style>${DASHBOARD_INLINE_STYLE}</style>
</head>
<body data-connection="connecting">
<header>
<h1>${title}</h1>
<span class="meta" id="version"></span>
<span class="meta connection" id="updated">connecting…</span>
</header>
<div id="banner" role="alert" hidden></div>
<main>
<noscript><p>The dashboard needs JavaScript. Its data is JSON at this page's path followed by /data.</p></noscript>
<h2>Dependencies, pins, garbage collection, storage</h2>
<section class="tiles">
<div class="group" id="dependencies" aria-label="Dependencies"></div>
<div class="group" id="status" aria-label="Pins, garbage collection and storage"></div>
</section>
<h2 id="window">History</h2>
<section class="charts" aria-label="Charts">
${figures.join('\n')}
</section>
</main>
<script>${DASHBOARD_INLINE_SCRIPT}</script>
</body>
</html>
`
}
