/** Locales the portal speaks; the first is the fallback for missing keys. */
export const LOCALES = ['en', 'zh-CN'] as const;
export type Locale = (typeof LOCALES)[number];

export type Catalog = Record<string, string>;

/**
 * Merges catalog files by locale: `en.json`, `en.dashboard.json`, … all belong to `en` (the part of
 * the file name before the first dot), so each feature can keep its own keys in its own file and no
 * list has to name them. Later files win on a duplicate key; the merge order is the path order.
 */
export function mergeCatalogs(files: Record<string, Catalog>): Record<string, Catalog> {
  const out: Record<string, Catalog> = {};
  for (const path of Object.keys(files).sort()) {
    const base = path.split('/').pop() ?? path;
    const locale = base.slice(0, base.indexOf('.'));
    out[locale] = { ...out[locale], ...files[path] };
  }
  return out;
}

/** Picks the locale: the remembered one, else the browser's language when we speak it, else English. */
export function initialLocale(stored: string | null, languages: readonly string[]): Locale {
  if (stored && (LOCALES as readonly string[]).includes(stored)) return stored as Locale;
  for (const lang of languages) {
    if (/^zh(-(CN|Hans|SG))?/i.test(lang) && !/^zh-(TW|HK|Hant)/i.test(lang)) return 'zh-CN';
    if (/^en\b/i.test(lang)) return 'en';
  }
  return 'en';
}

export const LOCALE_STORAGE_KEY = 'vireo.locale';
