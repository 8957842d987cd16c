import { constants } from 'node:os';

const byNumber = new Map<number, string>(
  Object.entries(constants.errno).map(([name, value]) => [value, name]),
);

/** Linux errno number -> symbolic name ("ENOENT"), or "E<n>" when unknown. */
export function errnoName(errno: number): string {
  return byNumber.get(errno) ?? `E${errno}`;
}
