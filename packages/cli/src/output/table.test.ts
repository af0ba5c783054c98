import { describe, expect, it } from 'vitest';
import { formatList, formatObject, formatStreamItem } from './format';
import { type Column, fitWidths, renderFields, renderTable } from './table';
import { displayWidth, sanitize, truncate, wrap } from './text';

interface Row {
  name: string;
  id: string;
  description?: string;
}
const columns: Column<Row>[] = [
  { header: 'NAME', value: (r) => r.name, minWidth: 6 },
  { header: 'ID', value: (r) => r.id, overflow: 'fixed' },
  { header: 'DESCRIPTION', value: (r) => r.description, overflow: 'wrap', minWidth: 10 },
];
const rows: Row[] = [
  {
    name: 'production-east',
    id: '11111111-2222-4333-8444-555555555555',
    description: 'the main data center in the east region',
  },
  { name: 'lab', id: '66666666-7777-4888-8999-000000000000' },
];

describe('renderTable', () => {
  it('uses natural widths when nothing limits them (not a terminal)', () => {
    const out = renderTable(rows, columns);
    expect(out.split('\n')[0]).toBe(`NAME             ID                                    DESCRIPTION`);
    expect(out).toContain('the main data center in the east region');
    expect(out.split('\n')[2]).toBe('lab              66666666-7777-4888-8999-000000000000  -');
  });

  it('fits a narrow terminal: wraps the wrap column, truncates others, keeps fixed ones whole', () => {
    const out = renderTable(rows, columns, 70);
    const lines = out.trimEnd().split('\n');
    for (const l of lines) expect(displayWidth(l)).toBeLessThanOrEqual(70);
    expect(out).toContain('11111111-2222-4333-8444-555555555555');
    expect(lines.length).toBeGreaterThan(3); // the description wrapped onto more lines
    expect(lines.slice(1).join(' ').replace(/\s+/g, ' ')).toContain('the main data center');

    const narrow = renderTable(rows, columns, 56);
    for (const l of narrow.trimEnd().split('\n')) expect(displayWidth(l)).toBeLessThanOrEqual(56);
    expect(narrow).toContain('produ…  11111111');
    expect(narrow).toContain('center in');
  });

  it('never hides a fixed column even if the terminal is too narrow', () => {
    const out = renderTable(rows, columns, 20);
    expect(out).toContain('66666666-7777-4888-8999-000000000000');
  });

  it('escapes control characters so names cannot drive the terminal', () => {
    const out = renderTable([{ name: 'evil\u001b[2Jname', id: 'x\ny' }], columns);
    expect(out).not.toContain('\u001b');
    expect(out).toContain('evil\\x1b[2Jname');
    expect(out).toContain('x\\ny');
  });
});

describe('fitWidths', () => {
  it('shrinks the widest shrinkable column first, down to its minimum', () => {
    expect(fitWidths([10, 30, 20], [4, 4, 4], [true, true, true], 40)).toEqual([10, 13, 13]);
    expect(fitWidths([10, 30, 20], [4, 4, 4], [true, false, true], 40)).toEqual([4, 30, 4]);
    expect(fitWidths([10, 30], [4, 4], [true, true])).toEqual([10, 30]);
  });
});

describe('text helpers', () => {
  it('measures wide characters and truncates/wraps by display width', () => {
    expect(displayWidth('数据中心')).toBe(8);
    expect(truncate('数据中心', 5)).toBe('数据…');
    expect(truncate('abcdef', 4)).toBe('abc…');
    expect(wrap('the quick brown fox', 9)).toEqual(['the quick', 'brown fox']);
    expect(wrap('abcdefghij', 4)).toEqual(['abcd', 'efgh', 'ij']);
    expect(sanitize('a\tb\u009bc')).toBe('a\\tb\\x9bc');
  });
});

describe('formats', () => {
  it('renders lists and objects as json, yaml and fields', () => {
    expect(JSON.parse(formatList(rows, columns, 'json'))).toEqual(rows);
    expect(formatList(rows, columns, 'yaml')).toContain('- name: production-east\n');
    expect(formatList([], columns, 'yaml')).toBe('[]\n');
    const op = {
      id: 'o1',
      state: 'failed',
      error: { code: 'disk_full', message: 'no space' },
      tags: ['a', 'b'],
    };
    expect(formatObject(op, 'table')).toBe(
      [
        'id             o1',
        'state          failed',
        'error.code     disk_full',
        'error.message  no space',
        'tags           a, b',
        '',
      ].join('\n'),
    );
    expect(renderFields({ disks: [{ size_gib: 1 }, { size_gib: 2 }] })).toContain('disks[1].size_gib  2');
    expect(formatStreamItem(rows[1]!, columns, 'json')).toBe(`${JSON.stringify(rows[1])}\n`);
    expect(formatStreamItem(rows[1]!, columns, 'table')).toBe(
      'lab   66666666-7777-4888-8999-000000000000  -\n',
    );
  });
});
