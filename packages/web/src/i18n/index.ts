export {
  type Catalog,
  initialLocale,
  LOCALE_STORAGE_KEY,
  LOCALES,
  type Locale,
  mergeCatalogs,
} from './catalogs';
export { CATALOGS, LocaleProvider, useLocale } from './LocaleProvider';
