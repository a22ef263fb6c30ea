/**
 * Whether the running nginx has loaded the upstream file as it is now: after a crash between
 * bluegreen's rewrite and its reload, the marker says what the last reload *by bluegreen*
 * applied, but nginx may have been reloaded or restarted since (by a reboot, by hand, by
 * another tool) and serve the file. nginx starts new workers on every reload and restart, so a
 * worker newer than the file means the file is what it serves.
 *
 * Read from /proc on this host: the nginx master whose command line carries the arguments of the
 * plan's reload command (its -p/-c/-g), and the start times of its workers. Undefined when it
 * cannot tell (no /proc, no such master or more than one, no workers): the caller then says so.
 */
import { readdir, readFile, stat } from 'node:fs/promises'
import { basename } from 'node:path'

/** Clock ticks per second of /proc/<pid>/stat's start time: 100 on every Linux build we meet. */
const ticksPerSecond = 100

export async function nginxLoadedFile(file: string, reload: string[]): Promise<boolean | undefined> {
  try {
    const master = await findMaster(reload)
    if (master === undefined) return undefined
    const children = (await readFile(`/proc/${master}/task/${master}/children`, 'utf8'))
      .split(/\s+/)
      .filter(Boolean)
    if (children.length === 0) return undefined
    const uptimeS = Number((await readFile('/proc/uptime', 'utf8')).split(' ')[0])
    const now = Date.now()
    let newest = -Infinity
    for (const pid of children) {
      const ticks = await startTicks(pid)
      if (ticks !== undefined) newest = Math.max(newest, now - (uptimeS - ticks / ticksPerSecond) * 1000)
    }
    if (newest === -Infinity) return undefined
    const { mtimeMs } = await stat(file)
    // /proc's times are in 10 ms ticks: a worker of the same tick as the file is not proof.
    if (Math.abs(newest - mtimeMs) < 1000 / ticksPerSecond) return undefined
    return newest > mtimeMs
  } catch {
    return undefined
  }
}

/** The one nginx master started with the reload command's own arguments, if there is one. */
async function findMaster(reload: string[]): Promise<string | undefined> {
  const at = reload.findIndex((word) => basename(word) === 'nginx')
  const own = at === -1 ? [] : reload.slice(at + 1)
  const signal = own.indexOf('-s')
  if (signal !== -1) own.splice(signal, 2)
  const masters: string[] = []
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue
    // nginx writes its title over argv: "nginx: master process /usr/sbin/nginx -p … -c …".
    const title = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replace(/\0/g, ' ')
    if (!title.startsWith('nginx: master process')) continue
    if (own.every((word) => title.includes(` ${word}`))) masters.push(pid)
  }
  return masters.length === 1 ? masters[0] : undefined
}

async function startTicks(pid: string): Promise<number | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
  // The command name (field 2) may hold spaces; the fields after it are counted from its ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  const ticks = Number(fields[19])
  return Number.isFinite(ticks) ? ticks : undefined
}
