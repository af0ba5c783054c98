// @vitest-environment jsdom
import { cleanup, fireEvent, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { renderInPortal } from '../../testing/portal';
import { DiskRow } from './rows';
import { type DiskRowValue, newDiskRow, toDiskCreate } from './vmForm';

const box = () => document.getElementById('d-encrypted') as HTMLInputElement;

/** The new-disk row's encryption box: the engine's default until touched; never for raw. */
describe('DiskRow encryption', () => {
  afterEach(() => cleanup());

  const renderRow = (value: DiskRowValue, encryptByDefault: boolean, locale: 'en' | 'zh-CN' = 'en') => {
    const onChange = vi.fn();
    renderInPortal(
      <DiskRow
        id="d"
        value={value}
        onChange={onChange}
        dataDomains={[]}
        encryptByDefault={encryptByDefault}
      />,
      { locale },
    );
    return onChange;
  };

  it('shows the engine default, sends only a choice the user made', () => {
    const onChange = renderRow(newDiskRow(), true);
    expect(screen.getByLabelText('Encrypted')).toBe(box());
    expect(box().checked).toBe(true);
    expect(box().disabled).toBe(false);
    // Untouched: the engine decides (the body names no encryption).
    expect(toDiskCreate(newDiskRow())).not.toHaveProperty('encrypted');
    fireEvent.click(box());
    expect(onChange).toHaveBeenCalledWith({ encrypted: false });
    expect(toDiskCreate({ ...newDiskRow(), encrypted: false })).toMatchObject({ encrypted: false });
  });

  it('is unticked when the engine does not encrypt by default, and disabled (plain) for raw', () => {
    renderRow(newDiskRow(), false);
    expect(box().checked).toBe(false);
    cleanup();
    renderRow({ ...newDiskRow(), format: 'raw', encrypted: true }, true, 'zh-CN');
    expect(screen.getByLabelText('加密')).toBe(box());
    expect(box().checked).toBe(false);
    expect(box().disabled).toBe(true);
    expect(toDiskCreate({ ...newDiskRow(), format: 'raw', encrypted: true })).not.toHaveProperty('encrypted');
  });
});
