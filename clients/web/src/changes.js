// A message's structured changes, as cards under its text.
//
// `yaml` and `code` replace a document: the tab whose claim is granted writes it
// (see main.js, onApply) and every card shows it applied. `code_edits` ({old, new}
// replacements in the job code) are shown as a diff against the current code for
// a person to accept or reject; accepting writes the edited code with the session's
// revision, so two people accepting at once change the code once.
import { javascript } from "@codemirror/lang-javascript";
import { unifiedMergeView } from "@codemirror/merge";
import { EditorState } from "@codemirror/state";
import { EditorView } from "@codemirror/view";
import { h } from "./dom.js";
import { people } from "./people.js";
import { explain } from "./reasons.js";

const KINDS = { yaml: "Workflow YAML", code: "Job code" };

/** Apply `{old, new}` edits in order; edits whose `old` text is not there are returned as `missing`. */
export function applyEdits(code, edits) {
  const missing = [];
  for (const edit of edits || []) {
    const before = typeof edit.old === "string" ? edit.old : "";
    const after = typeof edit.new === "string" ? edit.new : "";
    if (before && code.includes(before)) code = code.replace(before, () => after);
    else if (!before) code = code + after;
    else missing.push(edit);
  }
  return { code, missing };
}

export class ChangeCards {
  constructor(docs) {
    this.docs = docs;
    this.el = h("div", { class: "changes" });
    this.cards = new Map(); // change_id -> {change, el, applied, by}
    this.docs.onChange(() => this.refresh());
  }

  /** A change seen in a stream, a snapshot or a saved message. */
  show(change) {
    let card = this.cards.get(change.change_id);
    if (!card) {
      card = { change, el: h("div", { class: "change", "data-testid": "change", "data-change-id": change.change_id }), applied: false };
      this.cards.set(change.change_id, card);
      this.el.append(card.el);
    }
    card.change = change;
    card.applied = card.applied || Boolean(change.applied);
    this.render(card);
  }

  /** `changes_applied`: the change was applied (by `userId`). */
  applied(changeId, userId) {
    const card = this.cards.get(changeId);
    if (!card) return;
    card.applied = true;
    card.by = userId;
    this.render(card);
  }

  destroy() {
    for (const card of this.cards.values()) card.view?.destroy();
  }

  refresh() {
    for (const card of this.cards.values()) if (card.change.changes?.code_edits) this.render(card);
  }

  render(card) {
    card.view?.destroy();
    card.view = null;
    const { changes } = card.change;
    const parts = [];
    for (const key of Object.keys(KINDS)) {
      if (typeof changes?.[key] !== "string") continue;
      const state = card.applied ? `applied to the editor${card.by ? ` by ${people.call(card.by)}` : ""}` : "proposed";
      parts.push(h("div", { class: "change-line" }, h("strong", {}, KINDS[key]), ` — ${state}`));
    }
    if (Array.isArray(changes?.code_edits)) parts.push(this.edits(card));
    card.el.dataset.applied = String(card.applied);
    card.el.replaceChildren(...parts);
  }

  /** Code edits: a diff with Accept / Reject, or what became of them. */
  edits(card) {
    const id = card.change.change_id;
    const current = this.docs.current("job_code");
    const { code, missing } = applyEdits(current, card.change.changes.code_edits);
    const title = h("strong", {}, "Code edits");
    if (rejected(id)) return h("div", { class: "change-line" }, title, " — rejected");
    if (code === current || missing.length) {
      const done = missing.length && card.change.changes.code_edits.every((edit) => current.includes(edit.new || ""));
      return h("div", { class: "change-line" }, title, done || code === current ? " — accepted" : " — no longer fit the current code");
    }
    const diff = h("div", { class: "diff", "data-testid": "code-diff" });
    const view = (card.view = new EditorView({
      parent: diff,
      state: EditorState.create({
        doc: code,
        extensions: [javascript(), EditorState.readOnly.of(true), EditorView.editable.of(false), unifiedMergeView({ original: current, mergeControls: false })],
      }),
    }));
    const note = h("span", { class: "change-note", role: "status" });
    const accept = h("button", { class: "small primary", "data-testid": "accept-edits" }, "Accept");
    const reject = h("button", { class: "small", "data-testid": "reject-edits" }, "Reject");
    accept.onclick = async () => {
      accept.disabled = reject.disabled = true;
      try {
        // re-applied to the code as it is when the write happens, so a concurrent accept does not apply twice
        await this.docs.write((context) => {
          const latest = applyEdits(typeof context.job_code === "string" ? context.job_code : "", card.change.changes.code_edits);
          if (latest.missing.length) throw new Error("The code changed since these edits were proposed.");
          return { job_code: latest.code };
        });
      } catch (error) {
        note.textContent = error.status ? explain(error) : error.message;
        accept.disabled = reject.disabled = false;
      }
    };
    reject.onclick = () => {
      localStorage.setItem(`streamrelay:rejected:${id}`, "1");
      this.render(card);
    };
    return h("div", { class: "edits" }, h("div", { class: "change-line" }, title, " — review"), diff, h("div", { class: "actions" }, accept, reject, note));
  }
}

function rejected(changeId) {
  try {
    return localStorage.getItem(`streamrelay:rejected:${changeId}`) === "1";
  } catch {
    return false;
  }
}
