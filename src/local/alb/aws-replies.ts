/**
 * What the Query APIs the emulator speaks (ELBv2, CloudWatch) share in their replies: the
 * error document, the fallback for a bug, and pagination.
 */
import { toXml } from './query.js'
import { ApiError } from './state.js'

/** Anything that is not an ApiError is the emulator's bug: AWS's words for that. */
export function asApiError(error: unknown): ApiError {
  return error instanceof ApiError
    ? error
    : new ApiError(
        'InternalFailure',
        'The request processing has failed because of an unknown error.',
        500,
        'Receiver',
      )
}

/** A Query API error reply: `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/>`. */
export function queryErrorXml(namespace: string, error: ApiError, requestId: string): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="${namespace}"><Error>` +
    toXml('Type', error.type) +
    toXml('Code', error.code) +
    toXml('Message', error.message) +
    `</Error>${toXml('RequestId', requestId)}</ErrorResponse>`
  )
}

/**
 * Pagination as the AWS APIs the emulator speaks do it: a page of items from an opaque token,
 * and the token of the next page while more are left. The token is the next position, encoded
 * with a letter of its own per API (ELBv2's Marker, CloudWatch's NextToken), so a token is
 * checked by re-encoding it, and a forged or foreign one is refused.
 */
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
