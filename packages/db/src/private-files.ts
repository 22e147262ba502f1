/**
 * The data folder holds password hashes, emails, sealed keys and the generated service secret:
 * only the owner may read it. It is created 0700 with its files 0600, and at each start-up a
 * looser folder (one created by an older version, or by hand) is tightened, with one log line
 * saying how many entries were, so an operator learns their data was readable.
 *
 * Files PGlite writes while running (a new table's files, WAL segments) get the process umask's
 * mode, so every service process sets the umask to 077 at start-up (`restrictFileCreation`, called
 * by the server's `createRuntime`): what it creates later is 0600 (folders 0700) from the start.
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { currentDatabaseLogger } from './availability';

export const PRIVATE_DIRECTORY_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;
/** Entries looked at per start-up: far more than a PGlite folder holds (about 1,200), bounded all the same. */
export const PRIVATE_ENTRIES_MAX = 200_000;
/** Group and other permission bits: any of them set is too loose. */
const GROUP_OTHER_BITS = 0o077;
/** The umask of a service process: files it creates are 0600, folders 0700. */
export const PRIVATE_UMASK = GROUP_OTHER_BITS;

/**
 * Makes every file and folder the process creates from now on owner-only (umask 077), so files
 * PGlite writes long after start-up are 0600 too. Returns the umask it replaced. A worker thread
 * cannot set the process's umask (Node refuses): there it changes nothing and returns null; the
 * services always run on the main thread.
 */
export function restrictFileCreation(): number | null {
  if (!isMainThread) return null;
  return process.umask(PRIVATE_UMASK);
}

/**
 * Creates `directory` (and missing parents of it) owner-only, and removes group and other
 * permissions from it and everything under it. Symbolic links are left alone (never followed).
 * Returns how many entries were tightened.
 */
export function makePrivateDirectory(directory: string, logger: { warn(fields: Record<string, unknown>, message: string): void } = currentDatabaseLogger()): number {
  mkdirSync(directory, { recursive: true, mode: PRIVATE_DIRECTORY_MODE });
  let tightened = 0;
  let seen = 0;
  const pending = [directory];
  while (pending.length > 0 && seen < PRIVATE_ENTRIES_MAX) {
    const current = pending.pop()!;
    seen += 1;
    const stats = lstatSync(current, { throwIfNoEntry: false });
    if (!stats || stats.isSymbolicLink()) continue;
    if (stats.isDirectory()) {
      if ((stats.mode & GROUP_OTHER_BITS) !== 0) {
        chmodSync(current, stats.mode & 0o700 | PRIVATE_DIRECTORY_MODE);
        tightened += 1;
      }
      for (const name of readdirSync(current)) pending.push(path.join(current, name));
    } else if (stats.isFile() && (stats.mode & GROUP_OTHER_BITS) !== 0) {
      chmodSync(current, (stats.mode & 0o700) | PRIVATE_FILE_MODE);
      tightened += 1;
    }
  }
  if (tightened > 0) logger.warn({ directory, tightened }, 'data folder was readable by other users: permissions tightened to owner-only (0700 folders, 0600 files)');
  return tightened;
}
