import { ToggleGroup, ToggleGroupItem } from '@patternfly/react-core';
import { useLocale } from '../i18n';

const LABELS = { en: 'English', 'zh-CN': '简体中文' } as const;

/** English / 简体中文, each named in its own language so anyone can find theirs. */
export function LanguageSwitch() {
  const { locale, setLocale } = useLocale();
  return (
    <ToggleGroup aria-label="Language / 语言" isCompact>
      {(Object.keys(LABELS) as (keyof typeof LABELS)[]).map((l) => (
        <ToggleGroupItem
          key={l}
          text={LABELS[l]}
          buttonId={`lang-${l}`}
          isSelected={locale === l}
          onChange={() => setLocale(l)}
        />
      ))}
    </ToggleGroup>
  );
}
