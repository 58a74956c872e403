/**
 * A bucket configuration as the gateway stored it (JSON text): `undefined` when none is stored,
 * else `{ value }`, where `value` is undefined when the text does not parse (a corrupt record the
 * caller reports).
 */
export function storedJson (text: string | undefined): { value: unknown } | undefined {
  if (text === undefined || text === '') return undefined
  try {
    return { value: JSON.parse(text) }
  } catch {
    return { value: undefined }
  }
}
