/** How an observed iteration ended: ran to its end, failed, or was stopped by its consumer. */
export type IterationEnd = undefined | 'stopped' | { failure: unknown }

/**
 * The same chunks, with `onChunk` told of each and `onEnd` told once how the iteration ended. A
 * plain iterator rather than an async generator around the source: it sits on every request and
 * block read, where a generator's extra promise hops per step cost more than the counting.
 */
export function observeIteration<T> (source: AsyncIterable<T> | Iterable<T>, onChunk: ((chunk: T) => void) | undefined, onEnd: (end: IterationEnd) => void): AsyncIterableIterator<T> {
  return new ObservedIterator(source, onChunk, onEnd)
}

class ObservedIterator<T> implements AsyncIterableIterator<T> {
  private iterator: AsyncIterator<T> | Iterator<T> | undefined
  private ended = false

  constructor (private readonly source: AsyncIterable<T> | Iterable<T>, private readonly onChunk: ((chunk: T) => void) | undefined,
    private readonly onEnd: (end: IterationEnd) => void) {}

  [Symbol.asyncIterator] (): this {
    return this
  }

  async next (): Promise<IteratorResult<T>> {
    let result: IteratorResult<T>
    try {
      result = await this.open().next()
    } catch (failure) {
      this.end({ failure })
      throw failure
    }
    if (result.done === true) this.end(undefined)
    else this.onChunk?.(result.value)
    return result
  }

  async return (value?: unknown): Promise<IteratorResult<T>> {
    this.end('stopped')
    // Not pulled yet: a source that is itself an iterator (a generator, a response body being
    // read) is ended; an iterable that would make one (a request stream) is left untouched.
    const iterator = this.iterator ?? (isIterator(this.source) ? this.source : undefined)
    if (typeof iterator?.return === 'function') return await iterator.return(value)
    return { done: true, value: value as T }
  }

  async throw (error?: unknown): Promise<IteratorResult<T>> {
    this.end({ failure: error })
    if (typeof this.iterator?.throw === 'function') return await this.iterator.throw(error)
    throw error
  }

  /** Opened on the first pull, as a generator around it would be: a request body is not touched unless an operation reads it. */
  private open (): AsyncIterator<T> | Iterator<T> {
    this.iterator ??= Symbol.asyncIterator in this.source
      ? (this.source as AsyncIterable<T>)[Symbol.asyncIterator]()
      : (this.source as Iterable<T>)[Symbol.iterator]()
    return this.iterator
  }

  private end (how: IterationEnd): void {
    if (this.ended) return
    this.ended = true
    this.onEnd(how)
  }
}

function isIterator<T> (source: AsyncIterable<T> | Iterable<T>): source is (AsyncIterable<T> & AsyncIterator<T>) | (Iterable<T> & Iterator<T>) {
  return typeof (source as { next?: unknown }).next === 'function'
}
