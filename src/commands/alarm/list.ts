import { StewardCommand } from '../../lib/cli/base-command.ts'
import { maintenanceConnectionFlags, resolveMaintenanceConnection } from '../../lib/cli/maintenance-flags.ts'
import { listAlarms } from '../../lib/defrag/alarms.ts'
import type { ActiveAlarm } from '../../lib/defrag/etcd.ts'
import { openMaintenanceEtcd } from '../../lib/defrag/etcd.ts'
import { hexId } from '../../lib/defrag/members.ts'

export default class AlarmList extends StewardCommand {
  static override summary = 'List the cluster\'s active alarms (NOSPACE, CORRUPT), like etcdctl alarm list.'
  static override description = `Alarms are cluster-wide: the first endpoint that answers lists them all. Exit 0 whether or
not alarms are active; --json prints {"alarms":[{"memberId":"<hex>","alarm":"NOSPACE"}]}.`
  static override examples = ['<%= config.bin %> <%= command.id %> --endpoints http://127.0.0.1:2379', '<%= config.bin %> <%= command.id %> --json']
  static override flags = { ...maintenanceConnectionFlags }

  async run(): Promise<{ endpoint: string; alarms: { memberId: string; alarm: string }[] }> {
    const { flags } = await this.parse(AlarmList)
    const { config } = await this.configFile(flags)
    const connection = resolveMaintenanceConnection(flags, config)
    const etcd = await openMaintenanceEtcd(connection)
    try {
      const { endpoint, alarms } = await listAlarms(etcd, connection.endpoints)
      printAlarms(this, alarms, 'No active alarms.')
      return { endpoint, alarms: alarms.map((a) => ({ memberId: hexId(a.memberId), alarm: a.alarm })) }
    } finally {
      etcd.close()
    }
  }
}

/** A MEMBER / ALARM table (or `empty`). */
export function printAlarms(command: StewardCommand, alarms: readonly ActiveAlarm[], empty: string): void {
  if (alarms.length === 0) {
    command.log(empty)
    return
  }
  const rows = [['MEMBER', 'ALARM'], ...alarms.map((a) => [hexId(a.memberId), a.alarm])]
  const width = Math.max(...rows.map((r) => r[0]!.length))
  for (const [member, alarm] of rows) command.log(`${member!.padEnd(width)}  ${alarm}`)
}
