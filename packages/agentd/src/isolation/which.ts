import { access, constants } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';

/** The first executable `name` in `pathVar` (a PATH value), or undefined. A name with '/' is checked as is. */
export async function findExecutable(name: string, pathVar: string | undefined = process.env.PATH): Promise<string | undefined> {
  const candidates = name.includes('/') ? [name] : (pathVar ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter).filter((d) => isAbsolute(d)).map((d) => join(d, name));
  for (const c of candidates) {
    try {
      await access(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  return undefined;
}
