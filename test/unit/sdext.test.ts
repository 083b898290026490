/**
 * The .sdext container (src/authoring/sdext.ts): what is written reads back, and every kind of
 * damage or trickery is refused with a typed error before anything is unpacked.
 */
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CHECKSUMS_FILE, readSdext, writeSdext } from '../../src/authoring/sdext.js';

const files = { 'manifest.json': Buffer.from('{"id":"x"}'), 'x.wasm': Buffer.from([0, 97, 115, 109, 1, 0, 0, 0]), 'README.md': Buffer.from('# x\n') };

/** A tar of these entries (name → data), with a ustar header each, gzip-compressed. */
function tarOf(entries: Array<{ name: string; data: Buffer; type?: string }>): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const h = Buffer.alloc(512);
    h.write(e.name, 0, 100, 'utf8');
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(`${e.data.length.toString(8).padStart(11, '0')}\0`, 124);
    h.write('00000000000\0', 136);
    h.write('        ', 148);
    h.write(e.type ?? '0', 156);
    h.write('ustar\0', 257);
    h.write('00', 263);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    blocks.push(h, e.data, Buffer.alloc((512 - (e.data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

const sums = (entries: Record<string, Buffer>) => Buffer.from(Object.entries(entries).map(([n, d]) => `${createHash('sha256').update(d).digest('hex')}  ${n}\n`).join(''));

describe('.sdext', () => {
  it('reads back what was written, checksums verified; the same input gives the same file', async () => {
    const packed = await writeSdext(files);
    const read = await readSdext('x.sdext', packed);
    expect([...read.keys()].sort()).toEqual(['README.md', 'manifest.json', 'x.wasm']);
    expect(read.get('x.wasm')).toEqual(files['x.wasm']);
    expect(gunzipSync(packed).includes(Buffer.from(CHECKSUMS_FILE))).toBe(true);
    expect((await writeSdext(files)).equals(packed)).toBe(true);
  });

  it('a changed file is CHECKSUM_MISMATCH', async () => {
    const entries = { 'manifest.json': files['manifest.json'], 'x.wasm': files['x.wasm'] };
    const listing = sums(entries);
    const tampered = tarOf([{ name: 'manifest.json', data: entries['manifest.json'] }, { name: 'x.wasm', data: Buffer.from([0, 97, 115, 109, 2, 0, 0, 0]) }, { name: CHECKSUMS_FILE, data: listing }]);
    await expect(readSdext('x.sdext', tampered)).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH', details: { entry: 'x.wasm' } });
  });

  it('refuses unlisted files, listed files that are missing, paths, links and non-archives', async () => {
    const m = files['manifest.json'];
    const listing = sums({ 'manifest.json': m });
    await expect(readSdext('x.sdext', tarOf([{ name: 'manifest.json', data: m }, { name: 'extra.bin', data: Buffer.from('x') }, { name: CHECKSUMS_FILE, data: listing }]))).rejects.toMatchObject({ code: 'EXTENSION_INVALID', message: expect.stringContaining("'extra.bin'") });
    await expect(readSdext('x.sdext', tarOf([{ name: 'manifest.json', data: m }, { name: CHECKSUMS_FILE, data: sums({ 'manifest.json': m, 'x.wasm': files['x.wasm'] }) }]))).rejects.toMatchObject({ code: 'EXTENSION_INVALID', message: expect.stringContaining("lists 'x.wasm'") });
    await expect(readSdext('x.sdext', tarOf([{ name: '../evil', data: m }, { name: CHECKSUMS_FILE, data: listing }]))).rejects.toMatchObject({ code: 'EXTENSION_INVALID', message: expect.stringContaining('not a plain file name') });
    await expect(readSdext('x.sdext', tarOf([{ name: 'link', data: Buffer.alloc(0), type: '2' }, { name: CHECKSUMS_FILE, data: listing }]))).rejects.toMatchObject({ code: 'EXTENSION_INVALID', message: expect.stringContaining('regular files') });
    await expect(readSdext('x.sdext', tarOf([{ name: 'manifest.json', data: m }]))).rejects.toMatchObject({ code: 'EXTENSION_INVALID', message: expect.stringContaining(CHECKSUMS_FILE) });
    await expect(readSdext('x.sdext', Buffer.from('PK\u0003\u0004 not a tar'))).rejects.toMatchObject({ code: 'EXTENSION_INVALID', message: expect.stringContaining('not a .sdext') });
  });
});
