// Keeps a scrolling list at its newest entry while the reader is there, as chat apps do:
// new content scrolls into view only when the reader was at the bottom; otherwise the
// place they are reading stays put and a "Jump to latest" button offers the way back.
import { h } from "./dom.js";

const NEAR = 24; // px from the bottom that still count as "at the bottom"

export class Follower {
  constructor(list) {
    this.list = list;
    this.pinned = true;
    this.button = h(
      "button",
      { type: "button", class: "jump-latest", "data-testid": "jump-latest", hidden: true, onclick: () => this.toBottom() },
      "↓ Jump to latest",
    );
    list.addEventListener("scroll", () => {
      this.pinned = this.atBottom();
      if (this.pinned) this.button.hidden = true;
    }, { passive: true });
    // whatever grows the list (text, tool steps, change cards, a status line) is followed alike
    new MutationObserver(() => this.grew()).observe(list, { childList: true, subtree: true, characterData: true });
  }

  atBottom() {
    const list = this.list;
    return list.scrollHeight - list.scrollTop - list.clientHeight <= NEAR;
  }

  /** Content was added or grew: follow it if the reader is at the bottom, else offer the button. */
  grew() {
    if (this.pinned) this.list.scrollTop = this.list.scrollHeight;
    else if (!this.atBottom()) this.button.hidden = false;
  }

  /** The reader asked for the newest (opening the chat, sending, the button). */
  toBottom() {
    this.pinned = true;
    this.button.hidden = true;
    this.list.scrollTop = this.list.scrollHeight;
  }
}
