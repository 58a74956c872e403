import type { MetadataStore } from './metadata-store.js'

/**
 * `store` with some methods replaced (e.g. to add jobs to its changes) and every other method
 * bound to it once, not on each access: these wrappers are on every request's path.
 */
export function withOverrides (store: MetadataStore, overrides: Partial<MetadataStore>): MetadataStore {
  const bound = new Map<string | symbol, unknown>(Object.entries(overrides))
  return new Proxy(store, {
    get (target, property, receiver) {
      const known = bound.get(property)
      if (known !== undefined) return known
      const value = Reflect.get(target, property, receiver) as unknown
      if (typeof value !== 'function') return value
      const method = value.bind(target)
      bound.set(property, method)
      return method
    },
  })
}
