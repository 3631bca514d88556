/**
 * Internal: the reason a file could not be read or written, in words, for error messages. Not
 * exported from the package; the library's key sources and the CLI share it so the same failure
 * reads the same everywhere.
 */

const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  ELOOP: 'too many symbolic links',
  EEXIST: 'it already exists',
  ENOSPC: 'no space left on the device',
  EROFS: 'read-only file system',
};

/**
 * Why an fs call failed: a few words for the common codes, else the code itself. `overrides`
 * rewords codes whose meaning depends on the operation (ENOENT when creating a file means its
 * directory is missing).
 */
export function fsReason(e: unknown, overrides: Readonly<Record<string, string>> = {}): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return 'unknown error';
  return overrides[code] ?? REASONS[code] ?? code;
}
