// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { FormattedDate, FormattedMessage, FormattedNumber } from 'react-intl';
import { afterEach, describe, expect, it } from 'vitest';
import { LanguageSwitch } from '../app/LanguageSwitch';
import { CATALOGS, initialLocale, LOCALE_STORAGE_KEY, LocaleProvider, mergeCatalogs } from '.';

describe('catalogs', () => {
  it('merges every file of a locale, feature files included', () => {
    const merged = mergeCatalogs({
      './en.json': { a: 'A' },
      './en.dashboard.json': { b: 'B' },
      './zh-CN.json': { a: '甲' },
      './zh-CN.dashboard.json': { b: '乙' },
    });
    expect(merged).toEqual({ en: { a: 'A', b: 'B' }, 'zh-CN': { a: '甲', b: '乙' } });
  });

  it('translates every English message into Simplified Chinese', () => {
    const en = Object.keys(CATALOGS.en ?? {});
    expect(en.length).toBeGreaterThan(20);
    const missing = en.filter((k) => !CATALOGS['zh-CN']?.[k]);
    expect(missing).toEqual([]);
  });

  it.each([
    [null, ['zh-CN', 'en'], 'zh-CN'],
    [null, ['zh'], 'zh-CN'],
    [null, ['zh-TW', 'en-US'], 'en'],
    [null, ['de-DE'], 'en'],
    ['en', ['zh-CN'], 'en'],
    ['zh-CN', ['en-US'], 'zh-CN'],
    ['klingon', ['en-US'], 'en'],
  ] as const)('stored %s, browser %j → %s', (stored, langs, expected) => {
    expect(initialLocale(stored, langs)).toBe(expected);
  });
});

function Page() {
  return (
    <LocaleProvider>
      <LanguageSwitch />
      <nav>
        <FormattedMessage id="nav.vms" />
      </nav>
      <span data-testid="number">
        <FormattedNumber value={1234567.5} />
      </span>
      <span data-testid="date">
        <FormattedDate
          value={Date.UTC(2026, 10, 24, 12)}
          year="numeric"
          month="long"
          day="numeric"
          timeZone="UTC"
        />
      </span>
    </LocaleProvider>
  );
}

describe('language switch', () => {
  afterEach(() => {
    cleanup();
    localStorage.clear();
  });

  it('switches the text, numbers and dates to Chinese and remembers the choice', async () => {
    localStorage.setItem(LOCALE_STORAGE_KEY, 'en');
    const first = render(<Page />);
    expect(screen.getByText('Virtual machines')).toBeTruthy();
    expect(screen.getByTestId('date').textContent).toBe('November 24, 2026');
    expect(screen.getByTestId('number').textContent).toBe('1,234,567.5');

    await act(async () => fireEvent.click(screen.getByText('简体中文')));
    expect(screen.getByText('虚拟机')).toBeTruthy();
    expect(screen.getByTestId('date').textContent).toBe('2026年11月24日');
    expect(localStorage.getItem(LOCALE_STORAGE_KEY)).toBe('zh-CN');
    expect(document.documentElement.lang).toBe('zh-CN');

    // A new visit starts in the remembered language.
    first.unmount();
    render(<Page />);
    expect(screen.getByText('虚拟机')).toBeTruthy();
    await act(async () => fireEvent.click(screen.getByText('English')));
    expect(screen.getByText('Virtual machines')).toBeTruthy();
    expect(localStorage.getItem(LOCALE_STORAGE_KEY)).toBe('en');
  });
});
