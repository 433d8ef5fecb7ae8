// A document the relay hosts (a session with "documents": "relay"), edited together in CodeMirror 6:
// a Y.Doc synced over the session's socket (./yjs_channel.js), bound with y-codemirror.next. Other
// people's cursors and selections show with their names and colours; undo is per person (Y.UndoManager
// undoes only this tab's edits); the change the assistant applied is highlighted briefly.
import { defaultKeymap } from "@codemirror/commands";
import { defaultHighlightStyle, syntaxHighlighting } from "@codemirror/language";
import { EditorState, StateEffect, StateField } from "@codemirror/state";
import { Decoration, EditorView, keymap, lineNumbers } from "@codemirror/view";
import { yCollab, yUndoManagerKeymap } from "y-codemirror.next";
import * as Y from "yjs";
import { STYLE_NONCE } from "./csp.js";
import { h } from "./dom.js";
import { ChannelProvider } from "./yjs_channel.js";

const COLOURS = ["#d9480f", "#2b8a3e", "#1971c2", "#ae3ec9", "#e67700", "#0c8599", "#c2255c", "#5f3dc4"];
const HIGHLIGHT_MS = 2000;
const RECENT_MS = 5000; // a remote change this recent is the one `changes_applied` announced

const flash = StateEffect.define();
const appliedMark = Decoration.mark({ class: "cm-applied-change" });
const highlighted = StateField.define({
  create: () => Decoration.none,
  update(marks, transaction) {
    marks = marks.map(transaction.changes);
    for (const effect of transaction.effects) {
      if (effect.is(flash)) marks = Decoration.set(effect.value.map(([from, to]) => appliedMark.range(from, to)), true);
    }
    return marks;
  },
  provide: (field) => EditorView.decorations.from(field),
});
const theme = EditorView.theme({
  ".cm-applied-change": { backgroundColor: "rgba(255, 212, 59, 0.45)", transition: "background-color 0.5s" },
  ".cm-ySelectionInfo": { opacity: 1, fontFamily: "inherit" }, // names always shown, not only on hover
});

export function colourOf(id) {
  let hash = 0;
  for (const char of String(id)) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return COLOURS[hash % COLOURS.length];
}

/** Ranges [from, to] of what a Y.Text event inserted (its deletions leave nothing to mark). */
function insertedRanges(delta) {
  const ranges = [];
  let index = 0;
  for (const op of delta) {
    if (op.retain) index += op.retain;
    else if (typeof op.insert === "string") {
      ranges.push([index, index + op.insert.length]);
      index += op.insert.length;
    }
  }
  return ranges;
}

export class SharedEditor {
  constructor({ field, title, testid, language }, { socket, sessionId, user, onChange, onError }) {
    this.field = field;
    this.doc = new Y.Doc();
    this.text = this.doc.getText("text");
    this.provider = new ChannelProvider(socket, `doc:${sessionId}:${field}`, this.doc);
    const colour = colourOf(user.id);
    this.provider.awareness.setLocalStateField("user", { name: user.name, color: colour, colorLight: `${colour}33` });
    this.undo = new Y.UndoManager(this.text);
    this.recent = null;
    this.host = h("div", { class: "editor", "data-testid": testid, "data-shared": "true" });
    this.el = h("div", { class: "document" }, h("header", {}, h("span", {}, title)), this.host);
    this.view = new EditorView({
      parent: this.host,
      state: EditorState.create({
        doc: this.text.toString(),
        extensions: [
          lineNumbers(),
          keymap.of([...yUndoManagerKeymap, ...defaultKeymap]),
          syntaxHighlighting(defaultHighlightStyle),
          language(),
          EditorView.lineWrapping,
          EditorView.cspNonce.of(STYLE_NONCE),
          yCollab(this.text, this.provider.awareness, { undoManager: this.undo }),
          highlighted,
          theme,
        ],
      }),
    });
    this.text.observe((event) => {
      if (!event.transaction.local) this.recent = { ranges: insertedRanges(event.delta), at: Date.now() };
      onChange();
    });
    this.provider.on("synced", () => (this.host.dataset.synced = "true"));
    this.provider.connect().catch(onError);
  }

  current() {
    return this.text.toString();
  }

  /** The assistant's change just landed here: mark what it inserted for a moment. */
  highlightApplied() {
    if (!this.recent || Date.now() - this.recent.at > RECENT_MS) return;
    const length = this.view.state.doc.length;
    const ranges = this.recent.ranges.map(([from, to]) => [Math.min(from, length), Math.min(to, length)]).filter(([from, to]) => to > from);
    this.recent = null;
    this.view.dispatch({ effects: flash.of(ranges) });
    this.host.dataset.applied = String(Number(this.host.dataset.applied || 0) + 1);
    clearTimeout(this.unflash);
    this.unflash = setTimeout(() => this.view.dispatch({ effects: flash.of([]) }), HIGHLIGHT_MS);
  }

  /** A person's whole-text edit (Accept of code edits): one transaction, only the part that differs. */
  replace(next) {
    const old = this.text.toString();
    let start = 0;
    while (start < old.length && start < next.length && old[start] === next[start]) start++;
    let end = 0;
    while (end < old.length - start && end < next.length - start && old[old.length - 1 - end] === next[next.length - 1 - end]) end++;
    this.doc.transact(() => {
      this.text.delete(start, old.length - start - end);
      this.text.insert(start, next.slice(start, next.length - end));
    });
  }

  destroy() {
    clearTimeout(this.unflash);
    this.provider.destroy();
    this.view.destroy();
    this.doc.destroy();
  }
}
