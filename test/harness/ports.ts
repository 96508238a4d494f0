/** Free loopback TCP ports for test servers. */
import { createConnection, createServer, type Server } from 'node:net'

/**
 * `count` distinct ports that were free on 127.0.0.1 a moment ago (picked by binding port 0;
 * all listeners are open at once so the ports differ). Another process may still grab one
 * before the caller binds it: callers retry on "address already in use".
 */
export async function getFreePorts(count: number): Promise<number[]> {
  const servers: Server[] = []
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer()
      servers.push(server)
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, resolve)
      })
    }
    return servers.map((server) => {
      const address = server.address()
      if (address === null || typeof address === 'string') throw new Error('listener has no TCP address')
      return address.port
    })
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))))
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:`port` (gives up after `timeoutMs` ms). */
export function isPortAccepting(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    const done = (accepting: boolean) => {
      socket.destroy()
      resolve(accepting)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}
