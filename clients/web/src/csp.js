// CodeMirror adds its styles in a <style> element: the page's Content-Security-Policy lets it in by this nonce
// (the page is served with it in <meta name="csp-nonce">). Every editor view takes it: EditorView.cspNonce.
export const STYLE_NONCE = document.querySelector('meta[name="csp-nonce"]')?.content ?? "";
