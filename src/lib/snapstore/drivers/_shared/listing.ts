/**
 * Paginated listing that never ends early: a page that fails for good after the first one, or
 * a continuation token that is missing or repeats, throws `STORE_FAILED` instead of returning
 * what was seen so far.
 */
import { StewardError } from '../../../errors.ts'
import type { ObjectInfo } from '../../types.ts'

/** One page as a driver fetched it. */
export interface Page {
  readonly items: readonly ObjectInfo[]
  /** Token of the next page; `undefined` when this was the last one. */
  readonly next: string | undefined
  /** The server says there is more (S3 `IsTruncated`): a missing `next` is then an error. */
  readonly truncated?: boolean
}

/** Options of {@link listPages}. */
export interface ListPagesOptions {
  readonly component: string
  /** e.g. `bucket b` or `container c`, for messages. */
  readonly scope: string
  /** e.g. `prefix "p/"` or `the whole bucket`. */
  readonly target: string
  /** The driver's name for a page token, e.g. `continuation token`. */
  readonly tokenName: string
  /** Hint for a server that paginates wrongly. */
  readonly paginationHint: string
  /** Facts for a pagination error (bucket or container, prefix). */
  readonly details: Readonly<Record<string, unknown>>
  /** Fetches the page after `token` (`undefined`: the first). */
  fetch(token: string | undefined, page: number): Promise<Page>
  /** Maps a fetch failure into the driver's StewardError. */
  fail(error: unknown): StewardError
}

/** Yields every object of every page; see the module comment for when it throws. */
export async function* listPages(options: ListPagesOptions): AsyncGenerator<ObjectInfo> {
  const { component, scope, target } = options
  const tokens = new Set<string>()
  let token: string | undefined
  let page = 0
  do {
    page += 1
    let out: Page
    try {
      out = await options.fetch(token, page)
    } catch (error) {
      const wrapped = options.fail(error)
      if (page > 1 && wrapped.code === 'STORE_FAILED') {
        throw new StewardError('STORE_FAILED', component, `listing ${target} of ${scope} failed at page ${page}; refusing to return a partial listing: ${wrapped.reason}`, {
          cause: error,
          hints: wrapped.hints,
          details: { ...wrapped.context, page },
        })
      }
      throw wrapped
    }
    yield* out.items
    const next = out.next
    if ((out.truncated && next === undefined) || (next !== undefined && tokens.has(next))) {
      const problem = `${out.truncated ? 'is truncated but ' : ''}${next === undefined ? `has no ${options.tokenName}` : `repeats an earlier ${options.tokenName}`}`
      throw new StewardError('STORE_FAILED', component, `listing ${target} of ${scope}: page ${page} ${problem}; refusing to return a partial listing`, {
        details: { ...options.details, page },
        hints: [options.paginationHint],
      })
    }
    if (next !== undefined) tokens.add(next)
    token = next
  } while (token !== undefined)
}
