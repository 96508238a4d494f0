import { Flags } from '@oclif/core'
import { StewardCommand } from '../../lib/cli/base-command.ts'
import { maintenanceConnectionFlags, resolveMaintenanceConnection } from '../../lib/cli/maintenance-flags.ts'
import { disarmAlarms } from '../../lib/defrag/alarms.ts'
import { openMaintenanceEtcd } from '../../lib/defrag/etcd.ts'
import { hexId } from '../../lib/defrag/members.ts'
import { printAlarms } from './list.ts'

export default class AlarmDisarm extends StewardCommand {
  static override summary = 'Disarm the cluster\'s active alarms, like etcdctl alarm disarm.'
  static override description = `Deactivates every active alarm (or only --type's). Disarming NOSPACE before the database is
back under the quota only lets etcd raise it again at the next write: defragment first
(steward defrag --cluster --auto-disalarm does both). Disarming CORRUPT does not repair
anything: see docs/defrag.md "Alarms".`
  static override examples = ['<%= config.bin %> <%= command.id %> --endpoints http://127.0.0.1:2379', '<%= config.bin %> <%= command.id %> --type NOSPACE --json']
  static override flags = {
    ...maintenanceConnectionFlags,
    type: Flags.option({ options: ['NOSPACE', 'CORRUPT'] as const, summary: 'Disarm only alarms of this type.' })(),
  }

  async run(): Promise<{ disarmed: { memberId: string; alarm: string }[] }> {
    const { flags } = await this.parse(AlarmDisarm)
    const { config } = await this.configFile(flags)
    const connection = resolveMaintenanceConnection(flags, config)
    const etcd = await openMaintenanceEtcd(connection)
    try {
      const disarmed = await disarmAlarms(etcd, connection.endpoints, flags.type)
      printAlarms(this, disarmed, 'No alarm to disarm.')
      return { disarmed: disarmed.map((a) => ({ memberId: hexId(a.memberId), alarm: a.alarm })) }
    } finally {
      etcd.close()
    }
  }
}
