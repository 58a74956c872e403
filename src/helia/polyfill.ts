/**
 * `Promise.withResolvers` (native from Node 22), which helia and libp2p call. Installed on the
 * global Promise, once, before either is imported; a native one is left alone.
 */
export function installPromiseWithResolvers (): void {
  const P = Promise as PromiseConstructor & { withResolvers?: unknown }
  if (typeof P.withResolvers === 'function') return
  Object.defineProperty(P, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T> (this: PromiseConstructor) {
      let resolve!: (value: T | PromiseLike<T>) => void
      let reject!: (reason?: unknown) => void
      const promise = new this<T>((res, rej) => { resolve = res; reject = rej })
      return { promise, resolve, reject }
    },
  })
}
