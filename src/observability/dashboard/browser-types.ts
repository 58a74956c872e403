/**
 * The few DOM shapes client.ts uses. The project type-checks with Node's types and no "DOM" lib, and a
 * `/// <reference lib="dom" />` would switch the DOM lib on for every file of the program (its
 * `fetch` and `BodyInit` then clash with Node's), so the browser code types what it touches here and
 * reads the browser's globals through `globalThis`. Each is a subset of the DOM's own type.
 */

export interface DomElement {
  className: string
  textContent: string | null
  hidden: boolean
  readonly clientWidth: number
  readonly dataset: Record<string, string | undefined>
  append (...nodes: Array<DomElement | string>): void
  replaceChildren (...nodes: DomElement[]): void
  querySelector (selectors: string): DomElement | null
  querySelectorAll (selectors: string): Iterable<DomElement>
}

export interface DomDocument {
  readonly body: DomElement
  createElement (tagName: string): DomElement
  querySelector (selectors: string): DomElement | null
  querySelectorAll (selectors: string): Iterable<DomElement>
}

export interface DomResizeObserver {
  observe (target: DomElement): void
}

/** What client.ts reads from `globalThis` in the browser. */
export interface BrowserGlobals {
  document: DomDocument
  location: { readonly pathname: string }
  ResizeObserver: new (callback: () => void) => DomResizeObserver
}
