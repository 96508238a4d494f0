/**
 * The calls a delta restore makes to its temporary etcd, over the HTTP/2 transport: revision,
 * database size, compaction, defragmentation, alarms and the per-revision write transaction. No auth
 * and no TLS (the temporary etcd listens on loopback only), so a restore never loads etcd3 or
 * grpc-js (about 35 MiB of resident memory).
 */
import {
  EMPTY_REQUEST,
  METHODS,
  decodeHeaderRevision,
  decodeStatusSizes,
  decodeAlarms,
  decodeTxnResult,
  encodeAlarmRequest,
  encodeCompactionRequest,
  encodeRangeRequest,
  encodeWriteTxn,
  type MemberAlarm,
  type TxnGuard,
  type WriteOp,
} from './messages.ts'
import { WireChannel } from './transport.ts'

export interface MemberClientOptions {
  /** `http://127.0.0.1:port`. */
  readonly endpoint: string
  /** Deadline of reads and transactions, in milliseconds. */
  readonly callTimeoutMs: number
  /** Deadline of compaction and defragmentation, in milliseconds. */
  readonly maintenanceTimeoutMs: number
  /** Largest response accepted, in bytes. */
  readonly maxMessageBytes?: number
}

/** A client of one etcd member. Errors are `GrpcStatusError`s or connection errors. */
export class MemberClient {
  readonly endpoint: string
  readonly #channel: WireChannel
  readonly #options: MemberClientOptions

  constructor(options: MemberClientOptions) {
    this.endpoint = options.endpoint
    this.#options = options
    this.#channel = new WireChannel({ endpoint: options.endpoint, flowControlWindowBytes: 1024 * 1024, maxMessageBytes: options.maxMessageBytes ?? 16 * 1024 * 1024 })
  }

  /** The member's current revision (header of a keys-only, limit-1 range). */
  async revision(timeoutMs = this.#options.callTimeoutMs): Promise<number> {
    return decodeHeaderRevision(await this.#channel.unary(METHODS.range, encodeRangeRequest(Buffer.from([0]), 1, true), { timeoutMs }))
  }

  /** Backend database size and the part of it in use, in bytes (`Maintenance.Status`). */
  async dbSize(): Promise<{ dbSizeBytes: number; dbSizeInUseBytes: number }> {
    return decodeStatusSizes(await this.#channel.unary(METHODS.status, EMPTY_REQUEST, { timeoutMs: this.#options.callTimeoutMs }))
  }

  /** Compacts history up to `revision`; `physical` waits until the backend has removed it. */
  async compact(revision: number, physical: boolean): Promise<void> {
    await this.#channel.unary(METHODS.compact, encodeCompactionRequest(revision, physical), { timeoutMs: this.#options.maintenanceTimeoutMs })
  }

  /**
   * Defragments the member's backend.
   * @param timeoutMs deadline in milliseconds [default: the client's `maintenanceTimeoutMs`]
   * @throws GrpcStatusError (`4 DEADLINE_EXCEEDED` when the deadline passes first)
   */
  async defragment(timeoutMs = this.#options.maintenanceTimeoutMs): Promise<void> {
    await this.#channel.unary(METHODS.defragment, EMPTY_REQUEST, { timeoutMs })
  }

  /** Every alarm raised in the cluster (`Maintenance.Alarm` GET). */
  async alarms(): Promise<MemberAlarm[]> {
    return decodeAlarms(await this.#channel.unary(METHODS.alarm, encodeAlarmRequest('get'), { timeoutMs: this.#options.callTimeoutMs }))
  }

  /** Disarms one alarm (`Maintenance.Alarm` DEACTIVATE). */
  async disarm(alarm: MemberAlarm): Promise<void> {
    await this.#channel.unary(METHODS.alarm, encodeAlarmRequest('deactivate', alarm), { timeoutMs: this.#options.callTimeoutMs })
  }

  /**
   * One transaction of `ops`, applied only if `guard` holds (always without one); resolves the
   * response header's revision (the one etcd assigned when applied, the current one when not)
   * and whether the guard held.
   */
  async writeTxn(ops: readonly WriteOp[], guard?: TxnGuard): Promise<{ revision: number; succeeded: boolean }> {
    return decodeTxnResult(await this.#channel.unary(METHODS.txn, encodeWriteTxn(ops, guard), { timeoutMs: this.#options.callTimeoutMs }))
  }

  close(): void {
    this.#channel.close()
  }
}
