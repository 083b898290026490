import { describe, expect, it } from 'vitest';
import { FrameSplitter, jsonDepth, parseFrame, topLevelNumberToken } from '../../src/wire/framing.js';

function collect(max: number, stopAfter = Infinity) {
  const frames: string[] = [];
  const oversized: number[] = [];
  const splitter = new FrameSplitter(max, {
    onFrame(frame) {
      frames.push(frame.toString('utf8'));
      return frames.length < stopAfter;
    },
    onOversized(bytes) {
      oversized.push(bytes);
    },
  });
  return { splitter, frames, oversized };
}

describe('wire framing', () => {
  it('measures nesting depth outside strings, with escapes', () => {
    expect(jsonDepth(Buffer.from('{"a":[1,{"b":2}]}'), 64)).toBe(3);
    expect(jsonDepth(Buffer.from('{"a":"[[[{{{\\"[["}'), 64)).toBe(1);
    expect(jsonDepth(Buffer.from('"\\\\"[[['), 64)).toBe(3);
    expect(jsonDepth(Buffer.from('['.repeat(1000)), 10)).toBe(11); // stops early
  });

  it('parses, and refuses deep, non-UTF-8 and non-JSON frames with PROTOCOL_ERROR', () => {
    expect(parseFrame(Buffer.from('{"x":"ü"}'), 4)).toEqual({ x: 'ü' });
    expect(() => parseFrame(Buffer.from('[[[[[1]]]]]'), 4)).toThrow(/deeper than the limit of 4/);
    expect(() => parseFrame(Buffer.from([0x22, 0xc3, 0x28, 0x22]), 4)).toThrow(/not valid UTF-8/);
    expect(() => parseFrame(Buffer.from('{'), 4)).toThrow(/not valid JSON/);
    try {
      parseFrame(Buffer.from('{'), 4);
    } catch (err) {
      expect((err as { code: string }).code).toBe('PROTOCOL_ERROR');
    }
  });

  it('splits frames across and within chunks, ignoring empty lines and CR', () => {
    const { splitter, frames } = collect(1024);
    splitter.push(Buffer.from('{"a":1}\n\n{"b"'));
    splitter.push(Buffer.from(':2}\r\n{"c":3}'));
    expect(frames).toEqual(['{"a":1}', '{"b":2}']);
    splitter.push(Buffer.from('\n'));
    expect(frames).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
    expect(splitter.pendingBytes).toBe(0);
  });

  it('skips lines holding only spaces, tabs and CRs, but not a frame with whitespace around it', () => {
    const { splitter, frames } = collect(1024);
    splitter.push(Buffer.from('   \n\t\n \t\r\n\r\r\n  {"a":1}  \n\r{"b":2}\n'));
    expect(frames).toEqual(['  {"a":1}  ', '\r{"b":2}']);
  });

  it('reports an oversized frame once and resynchronises at its newline', () => {
    const { splitter, frames, oversized } = collect(16);
    splitter.push(Buffer.from('x'.repeat(40) + '\n{"ok":1}\n'));
    expect(oversized).toEqual([40]);
    expect(frames).toEqual(['{"ok":1}']);
    splitter.push(Buffer.from('y'.repeat(10)));
    splitter.push(Buffer.from('y'.repeat(10))); // passes the limit without a newline
    expect(oversized).toHaveLength(2);
    expect(splitter.pendingBytes).toBe(0);
    splitter.push(Buffer.from('y'.repeat(1000)));
    splitter.push(Buffer.from('yy\n{"ok":2}\n'));
    expect(oversized).toHaveLength(2);
    expect(frames).toEqual(['{"ok":1}', '{"ok":2}']);
  });

  it('holds unread frames while the sink is stopped, and resumes', () => {
    const { splitter, frames } = collect(1024, 2);
    splitter.push(Buffer.from('1\n2\n3\n4\n'));
    expect(frames).toEqual(['1', '2']);
    expect(splitter.stopped).toBe(true);
    splitter.push(Buffer.from('5\n'));
    expect(frames).toEqual(['1', '2']);
    expect(splitter.resume()).toBe(false); // '3' taken, stopped again
    expect(frames).toEqual(['1', '2', '3']);
  });

  it('finds the characters of a top-level number member, as JSON.parse picks the member', () => {
    expect(topLevelNumberToken('{"id":9007199254740993,"type":"ping"}', 'id')).toBe('9007199254740993');
    expect(topLevelNumberToken('{ "type" : "ping" , "id" :\t-1.5e+300 }', 'id')).toBe('-1.5e+300');
    expect(topLevelNumberToken('{"id":1,"id":2.5}', 'id')).toBe('2.5'); // the last one wins
    expect(topLevelNumberToken('{"id":1.5,"id":"s"}', 'id')).toBeUndefined();
    expect(topLevelNumberToken('{"\\u0069d":7.25}', 'id')).toBe('7.25');
    expect(topLevelNumberToken('{"p":{"id":1.5},"q":[{"id":2.5}],"s":"\\"id\\":3.5","id":4.5}', 'id')).toBe('4.5');
    expect(topLevelNumberToken('{"p":{"id":1.5}}', 'id')).toBeUndefined();
    expect(topLevelNumberToken('{"idx":1.5,"\\"id":2.5}', 'id')).toBeUndefined();
  });
});
