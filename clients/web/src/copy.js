// Copy to the clipboard, with the button saying so for a moment.

/** Copy `text()` when `button` is pressed; its label says "Copied" for two seconds (or why it failed). */
export function copyOnClick(button, text) {
  const label = button.getAttribute("aria-label") || button.textContent;
  button.addEventListener("click", async () => {
    let said = "Copied";
    try {
      await navigator.clipboard.writeText(text());
    } catch {
      said = "Copy failed";
    }
    button.dataset.state = said === "Copied" ? "copied" : "failed";
    button.setAttribute("aria-label", said);
    clearTimeout(button.copyTimer);
    button.copyTimer = setTimeout(() => {
      delete button.dataset.state;
      button.setAttribute("aria-label", label);
    }, 2000);
  });
}

/** A Copy button on every code block of a rendered message (mouse and touch; the message's own Copy serves the keyboard). */
export function addCodeCopies(content) {
  for (const pre of content.querySelectorAll("pre")) {
    if (pre.querySelector(".copy-code")) continue;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy-code";
    button.tabIndex = -1; // not a Tab stop per code block
    button.dataset.testid = "copy-code";
    button.setAttribute("aria-label", "Copy code");
    copyOnClick(button, () => pre.querySelector("code")?.textContent ?? pre.textContent);
    pre.append(button);
  }
}
