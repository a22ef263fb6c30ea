/**
 * Pagination as the AWS APIs the emulator speaks do it: a page of items from an opaque token,
 * and the token of the next page while more are left. The token is the next position, encoded
 * with a letter of its own per API (ELBv2's Marker, CloudWatch's NextToken), so a token is
 * checked by re-encoding it, and a forged or foreign one is refused.
 */
import { ApiError } from './state.js'

export function pageOf<T>(
  items: T[],
  options: { size: number; token?: string; letter: string; invalid: () => ApiError },
): { items: T[]; next?: string } {
  const encode = (position: number): string =>
    Buffer.from(`${options.letter}${position}`).toString('base64url')
  let start = 0
  if (options.token !== undefined) {
    const match = /^[a-z]([0-9]{1,6})$/.exec(Buffer.from(options.token, 'base64url').toString('latin1'))
    start = match ? Number(match[1]) : -1
    if (start < 0 || start > items.length || encode(start) !== options.token) throw options.invalid()
  }
  const end = start + options.size
  return { items: items.slice(start, end), next: end < items.length ? encode(end) : undefined }
}
