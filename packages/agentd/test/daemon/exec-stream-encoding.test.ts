import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { outputLine } from '../../src/adapters/http/exec-stream.js';

describe('NDJSON output lines', () => {
  test('are exactly the JSON text of {type, data: base64} and a newline, for any bytes', () => {
    const samples = [Buffer.alloc(0), Buffer.from([0, 10, 13, 34, 92, 127, 128, 255]), Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(65537)];
    for (const data of samples) {
      for (const stream of ['stdout', 'stderr'] as const) {
        const line = outputLine(stream, data);
        expect(line.toString('utf8')).toBe(`${JSON.stringify({ type: stream, data: data.toString('base64') })}\n`);
        expect(Buffer.from((JSON.parse(line.toString('utf8')) as { data: string }).data, 'base64')).toEqual(data);
      }
    }
  });
});
