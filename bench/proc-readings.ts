// Readings of processes and of the machine: /proc (peak RSS, CPU seconds by process, thread and
// service, bytes read/written), the machine's busy share and a quiet-machine wait, and what it is.
import { execFile } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MiB, sleep } from './run-environment';

/** Peak and current resident set of a process (VmHWM / VmRSS), in bytes. */
export async function memoryOf(pid: number): Promise<{ peak: number; now: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { peak: kb('VmHWM'), now: kb('VmRSS') };
}

/**
 * Resets a process's peak RSS (VmHWM) to its current RSS (`echo 5 > /proc/<pid>/clear_refs`, Linux
 * ≥ 4.0), so each run reads its own peak. Returns false when the kernel refuses (then the peak is
 * the process's lifetime peak, and the report says so).
 */
export async function resetPeakMemory(pid: number): Promise<boolean> {
  try {
    await writeFile(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** CPU seconds (user + system) a process has used so far. */
export async function cpuSecondsOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/** CPU seconds of a process split into user and system (kernel: syscalls, socket copies) time. */
export async function cpuSplitOf(pid: number): Promise<{ user: number; system: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  return { user: f[11] / 100, system: f[12] / 100 };
}

/** CPU seconds of a process's threads, summed by thread name (node main thread, V8 GC helpers, libuv pool). */
export async function threadCpuOf(pid: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const tid of await readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => '');
    if (!stat) continue;
    const name = tid === String(pid) ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const f = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    out[name] = (out[name] ?? 0) + (f[11] + f[12]) / 100;
  }
  return out;
}

export function threadCpuDelta(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(b)
      .map(([k, v]) => [k, Math.round((v - (a[k] ?? 0)) * 100) / 100])
      .filter(([, v]) => (v as number) > 0),
  );
}

/** CPU seconds of a process itself and of its children it has waited for (ffmpeg, ffprobe). */
export async function cpuTreeOf(pid: number): Promise<{ self: number; children: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  return { self: (f[11] + f[12]) / 100, children: (f[13] + f[14]) / 100 }; // utime stime cutime cstime
}

/** The machine's busy CPU seconds so far (all cores, every process): differences give core·s. */
export async function machineBusySeconds(): Promise<number> {
  return (await cpuTimes()).busy / 100;
}

/** CPU seconds so far of the services every request touches: the S3 server (radosgw + OSD + monitor of
 * BENCH_S3_DIR's instance, from its pid files), PostgreSQL (every postgres process), Redis. */
export async function servicesCpu(): Promise<{ s3: number; postgres: number; redis: number }> {
  const out = { s3: 0, postgres: 0, redis: 0 };
  const s3Dir = process.env.BENCH_S3_DIR;
  if (s3Dir) {
    for (const f of ['client.rgw.a.pid', 'osd.0.pid', 'mon.a.pid']) {
      const pid = Number((await readFile(path.join(s3Dir, 'run', f), 'utf8').catch(() => '')).trim());
      if (pid) out.s3 += await cpuSecondsOf(pid).catch(() => 0);
    }
  }
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const comm = (await readFile(`/proc/${entry}/comm`, 'utf8').catch(() => '')).trim();
    if (comm === 'postgres') out.postgres += await cpuSecondsOf(Number(entry)).catch(() => 0);
    else if (comm === 'redis-server') out.redis += await cpuSecondsOf(Number(entry)).catch(() => 0);
  }
  return out;
}

export function cpuDelta(
  a: { s3: number; postgres: number; redis: number },
  b: { s3: number; postgres: number; redis: number },
) {
  return { s3: b.s3 - a.s3, postgres: b.postgres - a.postgres, redis: b.redis - a.redis };
}

/**
 * Bytes a process passed through read()/write()-like calls so far (/proc/<pid>/io rchar, wchar):
 * sockets included, so every byte of an upload that goes through a process shows up here.
 */
export async function ioOf(pid: number): Promise<{ rchar: number; wchar: number }> {
  const io = await readFile(`/proc/${pid}/io`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(io)?.[1] ?? NaN);
  return { rchar: field('rchar'), wchar: field('wchar') };
}

/** The machine's CPU time counters (/proc/stat first line): busy and total jiffies. */
async function cpuTimes(): Promise<{ busy: number; total: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = v[3] + (v[4] ?? 0); // idle + iowait
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** Share of the machine's CPU that was busy over `ms` (0–1). */
export async function busyShare(ms: number): Promise<number> {
  const a = await cpuTimes();
  await sleep(ms);
  const b = await cpuTimes();
  return b.total === a.total ? 0 : (b.busy - a.busy) / (b.total - a.total);
}

/**
 * Waits until the machine is quiet (CPU busy below `threshold` over 300 ms) or `maxMs` passed, so a
 * measurement does not start in the tail of the previous one (S3 server flushing, GC). Returns the
 * last busy share seen: recorded with each sample as a noise indicator.
 */
export async function quiesce(threshold = 0.3, maxMs = 8_000): Promise<number> {
  const deadline = Date.now() + maxMs;
  let share = 1;
  while (Date.now() < deadline) {
    share = await busyShare(300);
    if (share < threshold) break;
  }
  return share;
}

export function machineInfo(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    hostname: os.hostname(),
    cpus: cpus.length,
    cpu_model: cpus[0]?.model ?? 'unknown',
    total_memory_mib: Math.round(os.totalmem() / MiB),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    load_average: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

export function commandOutput(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 10_000 }, (err, stdout) => resolve(err ? '' : String(stdout)));
  });
}
