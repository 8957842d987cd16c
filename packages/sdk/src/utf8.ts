/**
 * UTF-8 decoding of a byte stream in pieces, each decoded on demand: a piece is cut after
 * its last complete character, the few bytes of a character split across pieces are carried
 * over to the next one, and each piece is decoded in one shot (a stateless decoder, so the
 * pieces can be decoded in any order, or not at all).
 */

/** Length of the prefix of `bytes` that does not end inside a multi-byte character. */
export function completePrefixLength(bytes: Uint8Array): number {
  const n = bytes.length;
  // A character is at most 4 bytes: its lead byte is among the last 4.
  for (let i = n - 1; i >= 0 && i >= n - 4; i--) {
    const c = bytes[i] as number;
    if ((c & 0xc0) === 0x80) continue; // a continuation byte: keep looking for the lead
    const size = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return i + size > n ? i : n;
  }
  return n;
}

export class Utf8Pieces {
  private readonly decoder = new TextDecoder('utf-8');
  private carry: Uint8Array | undefined;

  /**
   * The next piece: what is needed to decode it in order is settled now (the carried bytes
   * of a split character), the decoding itself happens when the returned function is first
   * called, so pieces whose text nobody reads cost no decoding.
   */
  next(bytes: Uint8Array): () => string {
    let input = bytes;
    if (this.carry !== undefined) {
      input = new Uint8Array(this.carry.length + bytes.length);
      input.set(this.carry, 0);
      input.set(bytes, this.carry.length);
      this.carry = undefined;
    }
    const cut = completePrefixLength(input);
    if (cut < input.length) this.carry = input.slice(cut);
    if (cut === 0) return () => '';
    const complete = input.subarray(0, cut);
    const decoder = this.decoder;
    let text: string | undefined;
    return () => (text ??= decoder.decode(complete));
  }

  /** What is left at the end of the stream (an incomplete character decodes to U+FFFD). */
  end(): string {
    const rest = this.carry;
    this.carry = undefined;
    return rest === undefined ? '' : this.decoder.decode(rest);
  }
}
