/** `agentd watch`: how an event is printed for a person and with --json (the REST line). */
import { describe, expect, it } from 'vitest';
import { restLine, textLine } from '../../src/cli/client/watch.js';

describe('agentd watch output', () => {
  it('prints one readable line per event, directories with a trailing slash', () => {
    expect(textLine({ type: 'create', path: '/w/src', isDir: true })).toBe('create    /w/src/');
    expect(textLine({ type: 'write', path: '/w/a.txt', isDir: false })).toBe('write     /w/a.txt');
    expect(textLine({ type: 'rename', path: '/w/a', to: '/w/b', isDir: false })).toBe('rename    /w/a -> /w/b');
    expect(textLine({ type: 'overflow', lost: 12 })).toBe('overflow  12 events lost');
    expect(textLine({ type: 'overflow', lost: 0 })).toBe('overflow  events lost (the kernel queue overflowed; count unknown)');
    expect(textLine({ type: 'unwatched', path: '/w/deep', isDir: true, errno: 'ENOSPC' })).toBe('unwatched /w/deep/ (not watched: ENOSPC)');
  });

  it('--json prints the REST shape (snake_case, only the fields the event has)', () => {
    expect(restLine({ type: 'rename', path: '/w/a', to: '/w/b', isDir: false })).toEqual({ type: 'rename', path: '/w/a', to: '/w/b', is_dir: false });
    expect(restLine({ type: 'overflow', lost: 3 })).toEqual({ type: 'overflow', lost: 3 });
  });
});
