// What a screen reader hears of a streaming answer: each paragraph once, as it is completed, in
// one polite live region (not the message list re-rendered every frame, which floods the reader).
import { h } from "./dom.js";
import { plainText } from "./plain.js";

export class Announcer {
  constructor() {
    this.el = h("div", { class: "visually-hidden", "data-testid": "announcer", role: "status", "aria-live": "polite" });
    this.id = null;
    this.said = 0; // paragraphs of the current answer already announced
  }

  /** The answer `id` shows `text` so far: announce the paragraphs completed since the last call. */
  progress(id, text) {
    this.say(id, text, false);
  }

  /** The answer `id` ended with `text`: announce what is left of it. */
  finish(id, text) {
    this.say(id, text, true);
  }

  say(id, text, whole) {
    if (id !== this.id) {
      this.id = id;
      this.said = 0;
    }
    const paragraphs = String(text || "").split(/\n[ \t]*\n/);
    const done = whole ? paragraphs.length : paragraphs.length - 1;
    const fresh = [];
    for (; this.said < done; this.said += 1) {
      const line = plainText(paragraphs[this.said]);
      if (line) fresh.push(line);
    }
    if (fresh.length) this.el.textContent = fresh.join(" ");
  }
}
