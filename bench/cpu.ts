/**
 * CPU time of processes, from /proc (Linux): what a benchmark divides by its completed operations
 * to report CPU milliseconds per operation in each process. A spawned service is `npm` and its
 * children in one process group (spawned detached), so its time is the group's.
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 1000 / 100; // USER_HZ: 100 on Linux (getconf CLK_TCK)

type Stat = { pid: number; comm: string; pgrp: number; cpuMs: number };

/** One line of /proc/<pid>/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces and parentheses. */
function parseStat(pid: number, text: string): Stat {
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const fields = text.slice(close + 2).split(' ');
  // fields[0] is state (field 3); utime is field 14, stime field 15 -> indexes 11 and 12.
  return { pid, comm, pgrp: Number(fields[2]), cpuMs: (Number(fields[11]) + Number(fields[12])) * TICK_MS };
}

function readStats(): Stat[] {
  const stats: Stat[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let text: string;
    try {
      text = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    stats.push(parseStat(Number(entry), text));
  }
  return stats;
}

/** CPU milliseconds (user + system) one process has used so far. */
export function processCpuMs(pid: number): number {
  return parseStat(pid, readFileSync(`/proc/${pid}/stat`, 'utf8')).cpuMs;
}

/** CPU milliseconds used so far by each named process group, and by all PostgreSQL server processes. */
export function cpuSnapshot(groups: Record<string, number>): Record<string, number> {
  const stats = readStats();
  const snapshot: Record<string, number> = {};
  for (const [name, pgid] of Object.entries(groups)) snapshot[name] = stats.filter((stat) => stat.pgrp === pgid).reduce((sum, stat) => sum + stat.cpuMs, 0);
  snapshot.postgresql = stats.filter((stat) => stat.comm === 'postgres').reduce((sum, stat) => sum + stat.cpuMs, 0);
  return snapshot;
}

/** CPU ms per operation between two snapshots, per name. */
export function cpuPerOperation(before: Record<string, number>, after: Record<string, number>, operations: number): Record<string, number> {
  const result: Record<string, number> = {};
  for (const name of Object.keys(after)) result[name] = operations > 0 ? (after[name]! - (before[name] ?? 0)) / operations : 0;
  return result;
}

/** The whole machine's CPU time so far, from /proc/stat: busy (user, nice, system, irq, softirq) and steal, in ms. */
export function machineCpu(): { busyMs: number; stealMs: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return { busyMs: (user + nice + system + irq + softirq) * TICK_MS, stealMs: steal * TICK_MS };
}
