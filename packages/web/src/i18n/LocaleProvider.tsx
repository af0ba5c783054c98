import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { IntlProvider } from 'react-intl';
import { type Catalog, initialLocale, LOCALE_STORAGE_KEY, type Locale, mergeCatalogs } from './catalogs';

const files = import.meta.glob<Catalog>('./*.json', { eager: true, import: 'default' });
/** Every locale's messages, merged from all `src/i18n/<locale>*.json` files at build time. */
export const CATALOGS = mergeCatalogs(files);

interface LocaleState {
  locale: Locale;
  setLocale(locale: Locale): void;
}

const LocaleContext = createContext<LocaleState | null>(null);

function readStored(): string | null {
  try {
    return window.localStorage.getItem(LOCALE_STORAGE_KEY);
  } catch {
    return null; // storage disabled: fall back to the browser's language every time
  }
}

/**
 * The portal's language: English or Simplified Chinese, remembered in localStorage. Messages come
 * from the merged catalogs; a key missing in a locale falls back to the English text.
 */
export function LocaleProvider({ children, initial }: { children: ReactNode; initial?: Locale }) {
  const [locale, setLocaleState] = useState<Locale>(
    () => initial ?? initialLocale(readStored(), navigator.languages ?? [navigator.language]),
  );
  const setLocale = useCallback((next: Locale) => {
    setLocaleState(next);
    try {
      window.localStorage.setItem(LOCALE_STORAGE_KEY, next);
    } catch {
      // not remembered; still switched
    }
  }, []);
  // The page's language follows (screen readers, fonts, hyphenation), on the first render too.
  useEffect(() => {
    document.documentElement.lang = locale;
  }, [locale]);
  const messages = useMemo(() => ({ ...CATALOGS.en, ...CATALOGS[locale] }), [locale]);
  const state = useMemo(() => ({ locale, setLocale }), [locale, setLocale]);
  return (
    <LocaleContext.Provider value={state}>
      <IntlProvider locale={locale} defaultLocale="en" messages={messages} onError={onIntlError}>
        {children}
      </IntlProvider>
    </LocaleContext.Provider>
  );
}

function onIntlError(err: { code?: string }) {
  // A missing translation falls back to English by design; anything else is a bug worth seeing.
  if (err.code === 'MISSING_TRANSLATION') return;
  console.error(err);
}

export function useLocale(): LocaleState {
  const s = useContext(LocaleContext);
  if (!s) throw new Error('useLocale outside <LocaleProvider>');
  return s;
}
