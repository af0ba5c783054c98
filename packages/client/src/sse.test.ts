import { describe, expect, it } from 'vitest';
import { SseParser } from './sse';

describe('SseParser', () => {
  it('decodes messages split across chunks and line-ending styles', () => {
    const p = new SseParser();
    expect(p.push('id: 1\nevent: vm.state\nda')).toEqual([]);
    expect(p.push('ta: {"a":1}\n\nid: 2\r\ndata: x\r\ndata: y\r')).toEqual([
      { event: 'vm.state', data: '{"a":1}', id: '1' },
    ]);
    expect(p.push('\n\r\n')).toEqual([{ event: 'message', data: 'x\ny', id: '2' }]);
    expect(p.lastEventId).toBe('2');
  });

  it('ignores comments, unknown fields and blocks without data, and keeps retry', () => {
    const p = new SseParser();
    expect(p.push(': heartbeat\n\nretry: 2500\nfoo: bar\n\nid: 7\n\n')).toEqual([]);
    expect(p.retryMs).toBe(2500);
    expect(p.lastEventId).toBe('7');
    expect(p.push('data\n\n')).toEqual([{ event: 'message', data: '' }]);
  });

  it('an id-less message after an identified one has no id and keeps the last event id', () => {
    const p = new SseParser();
    const out = p.push(
      'id: 41\nevent: vm.started\ndata: {}\n\nevent: operation.progress\ndata: {"id":"op"}\n\n',
    );
    expect(out).toEqual([
      { event: 'vm.started', data: '{}', id: '41' },
      { event: 'operation.progress', data: '{"id":"op"}' },
    ]);
    expect(p.lastEventId).toBe('41');
  });
});
