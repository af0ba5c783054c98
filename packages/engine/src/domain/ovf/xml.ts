import { SaxesParser, type SaxesTagNS } from 'saxes';
import { OVF_LIMITS } from './types';

/** A parsed element: namespace URI + local name, attributes keyed `{uri}local` (or `local`), text. */
export interface XmlElement {
  uri: string;
  local: string;
  attrs: Map<string, string>;
  children: XmlElement[];
  text: string;
}

/** Why a document was refused; {@link parseOvf} turns it into `ovf_invalid`. */
export class XmlRefused extends Error {}

/**
 * Parses XML into a small tree, refusing anything an OVF has no use for and an attacker would:
 * a DOCTYPE (so no entity declarations, no external subsets), processing instructions, oversized
 * input, deep nesting, too many elements or attributes. saxes itself is strict (well-formedness,
 * namespaces) and never expands entities other than the five predefined ones and character
 * references, and it never fetches anything.
 */
export function parseXmlTree(text: string): XmlElement {
  if (Buffer.byteLength(text, 'utf8') > OVF_LIMITS.maxBytes) {
    throw new XmlRefused(`larger than ${OVF_LIMITS.maxBytes} bytes`);
  }
  const parser = new SaxesParser({ xmlns: true, position: true });
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let elements = 0;
  let failure: Error | undefined;
  const fail = (message: string): void => {
    failure ??= new XmlRefused(message);
  };
  parser.on('error', (err) => {
    failure ??= new XmlRefused(`not well-formed XML: ${err.message}`);
  });
  parser.on('doctype', () => fail('a DOCTYPE is not allowed'));
  parser.on('processinginstruction', (pi) => fail(`processing instruction <?${pi.target}?> is not allowed`));
  parser.on('opentag', (tag) => {
    const t = tag as SaxesTagNS;
    elements += 1;
    if (elements > OVF_LIMITS.maxElements) return fail(`more than ${OVF_LIMITS.maxElements} elements`);
    if (stack.length >= OVF_LIMITS.maxDepth) return fail(`nested deeper than ${OVF_LIMITS.maxDepth}`);
    const attrs = new Map<string, string>();
    const list = Object.values(t.attributes);
    if (list.length > OVF_LIMITS.maxAttributes) return fail(`<${t.name}> has too many attributes`);
    for (const a of list) {
      if (a.prefix === 'xmlns' || a.name === 'xmlns') continue;
      attrs.set(a.uri ? `{${a.uri}}${a.local}` : a.local, a.value);
    }
    const el: XmlElement = { uri: t.uri ?? '', local: t.local ?? t.name, attrs, children: [], text: '' };
    const parent = stack.at(-1);
    if (parent) parent.children.push(el);
    else if (root) return fail('more than one root element');
    else root = el;
    stack.push(el);
  });
  parser.on('closetag', () => {
    stack.pop();
  });
  const addText = (s: string): void => {
    const top = stack.at(-1);
    if (top) top.text += s;
  };
  parser.on('text', addText);
  parser.on('cdata', addText);
  try {
    parser.write(text);
    if (!failure) parser.close();
  } catch (err) {
    failure ??= new XmlRefused(`not well-formed XML: ${(err as Error).message}`);
  }
  if (failure) throw failure;
  if (!root) throw new XmlRefused('no root element');
  return root;
}

/** Escapes text for an attribute value or element content. */
export function xmlEscape(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\r/g, '&#13;')
    .replace(/\n/g, '&#10;')
    .replace(/\t/g, '&#9;');
}
