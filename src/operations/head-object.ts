import type { OperationContext } from './context.js'
import { readObject } from './object-read.js'

export async function headObject (ctx: OperationContext) {
  return await readObject(ctx, false)
}
