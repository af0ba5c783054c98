import { describe, expect, it } from 'vitest';
import { VireoError } from '../../errors';
import { vmDisks, vmEntity, vmNics } from './fixtures.test-support';
import { OVF_LIMITS, parseOvf, writeOvf } from './index';

const good = writeOvf(vmEntity, vmDisks, vmNics);

/** Parses and returns the refusal reason (fails the test when the text is accepted). */
function reason(text: string): string {
  try {
    parseOvf(text);
  } catch (err) {
    expect(err).toBeInstanceOf(VireoError);
    const e = err as VireoError;
    expect(e.code).toBe('ovf_invalid');
    expect(e.status).toBe(400);
    return String(e.details.reason);
  }
  throw new Error('the OVF was accepted');
}

function edit(from: string | RegExp, to: string): string {
  const out = good.replace(from, to);
  expect(out).not.toBe(good);
  return out;
}

describe('parseOvf refuses hostile or broken input', () => {
  it('refuses a DOCTYPE with entity declarations (billion laughs) without expanding them', () => {
    const laughs = `<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<ovf:Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">&lol2;</ovf:Envelope>`;
    expect(reason(laughs)).toMatch(/DOCTYPE|well-formed/);
  });

  it('refuses an external entity (XXE) reference to a host file', () => {
    const xxe = `<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/shadow">]>
<ovf:Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"><ovf:Name>&xxe;</ovf:Name></ovf:Envelope>`;
    const r = reason(xxe);
    expect(r).toMatch(/DOCTYPE|well-formed/);
    expect(r).not.toContain('root:');
  });

  it('refuses an undeclared entity and a processing instruction', () => {
    expect(reason(edit('<ovf:Name>web-1</ovf:Name>', '<ovf:Name>&boom;</ovf:Name>'))).toMatch(/well-formed/);
    expect(reason(edit('<ovf:References>', '<?evil run?><ovf:References>'))).toMatch(
      /processing instruction/,
    );
  });

  it('refuses text over the size cap before parsing it', () => {
    const big = good.replace('</ovf:Envelope>', `<!--${'x'.repeat(OVF_LIMITS.maxBytes)}--></ovf:Envelope>`);
    expect(reason(big)).toMatch(/larger than/);
  });

  it('refuses deep nesting and element floods', () => {
    const deep = `${'<a>'.repeat(OVF_LIMITS.maxDepth + 5)}${'</a>'.repeat(OVF_LIMITS.maxDepth + 5)}`;
    expect(reason(deep)).toMatch(/nested deeper/);
    const flood = `<a>${'<b/>'.repeat(OVF_LIMITS.maxElements + 1)}</a>`;
    expect(reason(flood)).toMatch(/more than \d+ elements/);
  });

  it('refuses malformed XML and a wrong root', () => {
    expect(reason(good.slice(0, good.length / 2))).toMatch(/well-formed/);
    expect(reason('<Envelope/>')).toMatch(/not an OVF Envelope/);
    expect(reason('')).toMatch(/well-formed|no root/);
  });

  it('refuses a disk href that leaves the export directory', () => {
    const r = reason(edit(/ovf:href="11111111[^"]*"/, 'ovf:href="../../../etc/shadow"'));
    expect(r).toMatch(/href/);
  });

  it('refuses invalid names, ids, sizes and counts', () => {
    expect(reason(edit('<ovf:Name>web-1</ovf:Name>', '<ovf:Name>../web</ovf:Name>'))).toMatch(/name/);
    expect(reason(edit(/vireo:id="[^"]*"/, 'vireo:id="not-a-uuid"'))).toMatch(/id/);
    expect(reason(edit('ovf:capacity="1073741824"', 'ovf:capacity="-1"'))).toMatch(/whole number/);
    expect(reason(edit('ovf:capacity="1073741824"', 'ovf:capacity="99999999999999999"'))).toMatch(
      /capacity|whole/,
    );
    expect(
      reason(
        edit(
          '<rasd:VirtualQuantity>2</rasd:VirtualQuantity>',
          '<rasd:VirtualQuantity>999</rasd:VirtualQuantity>',
        ),
      ),
    ).toMatch(/cpus/);
    expect(
      reason(
        edit(
          '<rasd:VirtualQuantity>512</rasd:VirtualQuantity>',
          '<rasd:VirtualQuantity>1</rasd:VirtualQuantity>',
        ),
      ),
    ).toMatch(/memory/);
    const manyNics = writeOvf(
      vmEntity,
      [],
      Array.from({ length: OVF_LIMITS.maxNics + 1 }, (_, i) => ({
        type: 'user' as const,
        mac: `56:6f:00:00:01:${i.toString(16).padStart(2, '0')}`,
        model: 'virtio' as const,
      })),
    );
    expect(reason(manyNics)).toMatch(/more than 8 NICs/);
  });

  it('refuses values outside the enums', () => {
    expect(reason(edit('vireo:interface="virtio"', 'vireo:interface="floppy"'))).toMatch(/interface/);
    expect(reason(edit('vireo:format="raw"', 'vireo:format="vmdk"'))).toMatch(/format/);
    expect(reason(edit('vireo:osType="debian"', 'vireo:osType="amiga"'))).toMatch(/os type/);
    expect(reason(edit('<vireo:Device>cdrom</vireo:Device>', '<vireo:Device>disk</vireo:Device>'))).toMatch(
      /boot order/,
    );
    expect(reason(edit('vireo:kind="vm"', 'vireo:kind="pool"'))).toMatch(/kind/);
  });

  it('refuses documents whose sections disagree', () => {
    expect(reason(edit(/<vireo:Disk vireo:diskId="22222222[^>]*\/>/, ''))).toMatch(/do not match/);
    expect(reason(edit('<vireo:Nic vireo:type="user"/>', ''))).toMatch(/NIC items/);
    expect(
      reason(
        edit(
          '<rasd:AddressOnParent>1</rasd:AddressOnParent>',
          '<rasd:AddressOnParent>0</rasd:AddressOnParent>',
        ),
      ),
    ).toMatch(/position/);
    expect(reason(edit('vireo:bootable="false"', 'vireo:bootable="true"'))).toMatch(/bootable/);
    expect(reason(edit('56:6f:00:00:00:02', '56:6f:00:00:00:01'))).toMatch(/repeated/);
    expect(reason(edit('<rasd:Address>56:6f:00:00:00:01', '<rasd:Address>57:6f:00:00:00:01'))).toMatch(/MAC/);
  });

  it('refuses a foreign OVF without the Vireo section and a newer section version', () => {
    expect(reason(edit(/<vireo:VireoSection[\s\S]*<\/vireo:VireoSection>\n/, ''))).toMatch(/VireoSection/);
    expect(reason(edit('vireo:version="1"', 'vireo:version="2"'))).toMatch(/newer/);
  });
});
