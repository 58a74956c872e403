/** Request bodies as payload.ts hands them to an import: the digest worker's hashed leaves. */
import { HASHED_LEAVES, type HashedLeaf, type HashedLeafSource } from '../../src/content/leaves.js'
import { BATCH_SIZE, createStreamDigest } from '../../src/protocol/md5-worker.js'

/** Feeds `pieces` through a digest stream in leaf mode and yields its leaves, as payload.ts does. */
export function leafSource (pieces: () => Iterable<Uint8Array>, options: { inThread?: boolean, released?: { count: number, leaves: number } } = {}): HashedLeafSource & Iterable<Uint8Array> {
  const leaves = async function * (): AsyncGenerator<HashedLeaf> {
    const ready: HashedLeaf[] = []
    const digest = createStreamDigest(['md5'], {
      inThread: options.inThread,
      onLeaf: (leaf) => {
        if (options.released !== undefined) {
          const counter = options.released
          counter.leaves++
          const release = leaf.release
          leaf = { ...leaf, release: () => { counter.count++; release() } }
        }
        ready.push(leaf)
      }
    })
    try {
      for (const piece of pieces()) {
        const wait = digest.update(piece)
        while (ready.length > 0) yield ready.shift() as HashedLeaf
        if (wait !== undefined) await wait
      }
      await digest.digest()
      while (ready.length > 0) yield ready.shift() as HashedLeaf
    } finally {
      for (const leaf of ready.splice(0)) leaf.release()
      digest.abort()
    }
  }
  return { [HASHED_LEAVES]: { size: BATCH_SIZE, leaves }, [Symbol.iterator]: () => pieces()[Symbol.iterator]() }
}
