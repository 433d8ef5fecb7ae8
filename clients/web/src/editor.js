// The session's documents (context.workflow_yaml, context.job_code) in CodeMirror 6.
//
// A session with "documents": "relay" (the app's own) has them hosted by the relay and edited together
// live (./shared_editor.js). A session with "documents": "client" is shown the old way: every tab shows
// the session as the server has it and follows `session_updated`; writes go through PATCH
// /api/sessions/{id} with the revision the tab last saw, and a write based on an old revision is refused
// (409), so a tab re-reads and tries again.
import { defaultKeymap, history, historyKeymap } from "@codemirror/commands";
import { javascript } from "@codemirror/lang-javascript";
import { yaml } from "@codemirror/lang-yaml";
import { defaultHighlightStyle, syntaxHighlighting } from "@codemirror/language";
import { EditorState } from "@codemirror/state";
import { EditorView, keymap, lineNumbers } from "@codemirror/view";
import { h } from "./dom.js";
import { explain } from "./reasons.js";
import { STYLE_NONCE } from "./csp.js";
import { SharedEditor } from "./shared_editor.js";

const DOCUMENTS = [
  { field: "workflow_yaml", title: "Workflow (YAML)", testid: "editor-yaml", language: yaml },
  { field: "job_code", title: "Job code", testid: "editor-code", language: () => javascript() },
];
const WRITE_ATTEMPTS = 4;

class DocumentEditor {
  constructor({ field, title, testid, language }, save) {
    this.field = field;
    this.dirty = false;
    this.loading = false;
    this.saveButton = h("button", { class: "small", disabled: true, onclick: () => save(this) }, "Save");
    this.notice = h("div", { class: "doc-notice", hidden: true });
    this.host = h("div", { class: "editor", "data-testid": testid });
    this.el = h("div", { class: "document" }, h("header", {}, h("span", {}, title), this.saveButton), this.notice, this.host);
    this.view = new EditorView({
      parent: this.host,
      state: EditorState.create({
        doc: "",
        extensions: [
          lineNumbers(),
          history(),
          keymap.of([...defaultKeymap, ...historyKeymap]),
          syntaxHighlighting(defaultHighlightStyle),
          language(),
          EditorView.lineWrapping,
          EditorView.cspNonce.of(STYLE_NONCE),
          EditorView.updateListener.of((update) => {
            if (update.docChanged && !this.loading) this.setDirty(true);
          }),
        ],
      }),
    });
  }

  text() {
    return this.view.state.doc.toString();
  }

  /** The server's version: replaces the text unless the person is editing it. */
  show(text, { force = false } = {}) {
    if (this.text() === text) {
      this.setDirty(false);
      return;
    }
    if (this.dirty && !force) {
      this.pending = text;
      this.notice.replaceChildren(
        "Someone else changed this document. ",
        h("button", { class: "link", onclick: () => this.show(this.pending, { force: true }) }, "Show their version"),
      );
      this.notice.hidden = false;
      return;
    }
    this.loading = true;
    this.view.dispatch({ changes: { from: 0, to: this.view.state.doc.length, insert: text } });
    this.loading = false;
    this.setDirty(false);
  }

  setDirty(dirty) {
    this.dirty = dirty;
    this.saveButton.disabled = !dirty;
    if (!dirty) this.notice.hidden = true;
  }

  destroy() {
    this.view.destroy();
  }
}

export class DocumentsPane {
  /** `shared`: {socket, user: {id, name}} for documents the relay hosts. */
  constructor(api, sessionId, shared) {
    this.api = api;
    this.sessionId = sessionId;
    this.shared = shared;
    this.hosted = false;
    this.session = null;
    this.listeners = new Set();
    this.error = h("div", { class: "doc-error", role: "alert", hidden: true });
    this.editors = [];
    this.el = h("section", { class: "documents", "data-testid": "documents" }, this.error);
  }

  /** The editors, once the session says who keeps its documents. */
  mount(hosted) {
    this.hosted = hosted;
    this.el.dataset.documents = hosted ? "relay" : "client";
    this.editors = DOCUMENTS.map((spec) =>
      hosted
        ? new SharedEditor(spec, {
            ...this.shared,
            sessionId: this.sessionId,
            onChange: () => this.changed(),
            onError: (error) => this.showError(`The document could not be opened: ${explain(error)}`),
          })
        : new DocumentEditor(spec, (editor) => this.save(editor)),
    );
    this.el.append(...this.editors.map((editor) => editor.el));
  }

  /** A session from the server (join reply, GET, PATCH answer, `session_updated`); older revisions are ignored. */
  load(session) {
    if (!session || (this.session && session.revision < this.session.revision)) return;
    if (!this.editors.length) this.mount(session.documents === "relay");
    this.session = session;
    this.el.dataset.revision = String(session.revision);
    if (this.hosted) return this.changed(); // the documents come from their own topics
    const context = session.context || {};
    for (const editor of this.editors) editor.show(typeof context[editor.field] === "string" ? context[editor.field] : "");
    for (const listener of this.listeners) listener(session);
  }

  changed() {
    for (const listener of this.listeners) listener(this.session);
  }

  /** The assistant's change was applied by the relay: show where, briefly. */
  highlightApplied() {
    for (const editor of this.editors) editor.highlightApplied?.();
  }

  /** Current text of a document as the server has it (hosted: as this tab has it, in sync). */
  current(field) {
    if (this.hosted) return this.editors.find((editor) => editor.field === field)?.current() ?? "";
    const value = this.session?.context?.[field];
    return typeof value === "string" ? value : "";
  }

  onChange(listener) {
    this.listeners.add(listener);
  }

  /**
   * Write documents: `fields` is `{field: text}` or a function of the current context giving it
   * (re-run on the fresh session when another tab wrote first).
   */
  async write(fields, attempts = WRITE_ATTEMPTS) {
    if (this.hosted) {
      const context = Object.fromEntries(this.editors.map((editor) => [editor.field, editor.current()]));
      const update = typeof fields === "function" ? fields(context) : fields;
      for (const editor of this.editors) if (typeof update[editor.field] === "string") editor.replace(update[editor.field]);
      return;
    }
    for (let attempt = 1; ; attempt++) {
      const base = this.session || (await this.api.get(`/api/sessions/${this.sessionId}`)).session;
      const update = typeof fields === "function" ? fields(base.context || {}) : fields;
      try {
        const answer = await this.api.patch(`/api/sessions/${this.sessionId}`, {
          context: { ...(base.context || {}), ...update },
          revision: base.revision,
        });
        this.load(answer.session || answer);
        this.error.hidden = true;
        return;
      } catch (error) {
        if (error.status !== 409 || attempt >= attempts) throw error;
        this.session = null; // re-read: another tab wrote first
        this.load((await this.api.get(`/api/sessions/${this.sessionId}`)).session);
      }
    }
  }

  async save(editor) {
    const text = editor.text();
    editor.saveButton.disabled = true;
    try {
      await this.write({ [editor.field]: text }, 1); // a person's edit never overwrites a newer version
    } catch (error) {
      this.showError(`Not saved: ${explain(error)}`);
      editor.saveButton.disabled = false;
    }
  }

  showError(text) {
    this.error.textContent = text;
    this.error.hidden = false;
  }

  destroy() {
    for (const editor of this.editors) editor.destroy();
  }
}
