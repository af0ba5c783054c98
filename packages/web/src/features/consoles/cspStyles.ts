/**
 * xterm.js writes its layout and colours into `<style>` elements it creates, which the portal's
 * strict CSP (`style-src 'self'`, no 'unsafe-inline') refuses to apply. Constructable style sheets
 * are CSSOM, which CSP does not restrict: this mirrors the text of every `<style>` inside `root`
 * into an adopted sheet, and keeps it in step while xterm rewrites it. Returns the cleanup.
 */
export function mirrorStyleElements(root: HTMLElement, doc: Document = document): () => void {
  const sheets = new Map<HTMLStyleElement, CSSStyleSheet>();
  const sync = () => {
    const present = new Set(root.querySelectorAll('style'));
    for (const [el, sheet] of sheets) {
      if (!present.has(el)) {
        sheets.delete(el);
        doc.adoptedStyleSheets = doc.adoptedStyleSheets.filter((s) => s !== sheet);
      }
    }
    for (const el of present) {
      let sheet = sheets.get(el);
      if (!sheet) {
        sheet = new CSSStyleSheet();
        sheets.set(el, sheet);
        doc.adoptedStyleSheets = [...doc.adoptedStyleSheets, sheet];
      }
      sheet.replaceSync(el.textContent ?? '');
    }
  };
  const observer = new MutationObserver(sync);
  observer.observe(root, { childList: true, subtree: true, characterData: true });
  sync();
  return () => {
    observer.disconnect();
    const ours = new Set(sheets.values());
    doc.adoptedStyleSheets = doc.adoptedStyleSheets.filter((s) => !ours.has(s));
    sheets.clear();
  };
}
