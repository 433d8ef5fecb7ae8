import assert from "node:assert/strict";
import { test } from "node:test";

import { JSDOM } from "jsdom";

import { renderMarkdown } from "../src/markdown_html.js";

const { window } = new JSDOM("");

/** The text a person sees in the rendered HTML. */
function visible(html) {
  const box = window.document.createElement("div");
  box.innerHTML = html;
  return box.textContent;
}

const ANSWER = `## Syncing records

You asked: *how do I sync records?*

1. **Fetch** the records with \`get()\`, paging until the list is empty.
2. **Load** them with [upsert](https://docs.openfn.org/adaptors/postgresql) keyed on \`id\`.

| step | adaptor |
|------|---------|
| fetch | http |
| load | postgresql |

\`\`\`js
fn(state => {
  state.data = state.data.map(r => ({ id: r.id, name: r.name.trim() }));
  return state;
});
\`\`\`

~~Old way~~ is **gone**. That's _all_.`;

test("no prefix of a streamed answer shows raw markdown syntax", () => {
  for (let end = 1; end <= ANSWER.length; end++) {
    const prefix = ANSWER.slice(0, end);
    const html = renderMarkdown(prefix, { streaming: true, window });
    const text = visible(html);
    const insideCode = /```js\n[^`]*$/.test(prefix); // inside the open fence the text is code, shown as typed
    if (!insideCode) {
      for (const syntax of ["**", "##", "~~", "](", "|---", "| step"]) {
        assert.ok(!text.includes(syntax), `${JSON.stringify(syntax)} shown raw after ${JSON.stringify(prefix.slice(-30))}: ${text.slice(-80)}`);
      }
    }
    assert.ok(!/`/.test(text.replace(/```js[\s\S]*/, "")) || insideCode, `a backtick shown after ${JSON.stringify(prefix.slice(-30))}`);
  }
});

test("a list item being typed never shows its number or marker as text", () => {
  for (const source of ["1. first\n2", "1. first\n2.", "1. first\n12", "- one\n-", "- one\n  -", "text\n\n3"]) {
    const text = visible(renderMarkdown(source, { streaming: true, window }));
    assert.ok(!/\d$|-$/.test(text.trim()), `${JSON.stringify(source)} shows ${JSON.stringify(text)}`);
  }
  assert.match(visible(renderMarkdown("```\nx = 1\n2", { streaming: true, window })), /2/, "code is shown as typed");
});

test("the whole answer renders headings, emphasis, lists, links, tables and code", () => {
  const html = renderMarkdown(ANSWER, { window });
  for (const tag of ["<h2>", "<em>", "<strong>", "<ol>", '<a href="https://docs.openfn.org/adaptors/postgresql">', "<table>", '<code class="language-js">', "<del>"]) {
    assert.ok(html.includes(tag), `${tag} missing from ${html}`);
  }
});

test("an open code fence renders as code while it streams", () => {
  const html = renderMarkdown("Here:\n\n```yaml\nname: Demo\njobs:", { streaming: true, window });
  assert.match(html, /<pre><code class="language-yaml">name: Demo\njobs:/);
});

test("streaming and final rendering agree once the text is complete", () => {
  assert.equal(renderMarkdown(ANSWER, { streaming: true, window }), renderMarkdown(ANSWER, { window }));
});

const HOSTILE = [
  "<script>window.pwned = 1</script>",
  '<img src=x onerror="window.pwned = 1">',
  "<svg onload=window.pwned=1>",
  "[click](javascript:window.pwned=1)",
  '<a href="javascript:window.pwned=1">click</a>',
  '<iframe src="javascript:window.pwned=1"></iframe>',
  "<div style=\"background:url(javascript:window.pwned=1)\" onmouseover='window.pwned=1'>hover</div>",
];

test("upstream HTML never becomes live: no script, no event handler, no javascript: URL", () => {
  const dom = new JSDOM("<div id=out></div>", { runScripts: "dangerously" });
  const out = dom.window.document.getElementById("out");
  for (const attack of HOSTILE) {
    for (const source of [attack, `Some **text** ${attack} and more`, `# Title\n\n${attack}`]) {
      for (let end = 1; end <= source.length; end++) {
        for (const streaming of [true, false]) {
          out.innerHTML = renderMarkdown(source.slice(0, end), { streaming, window: dom.window });
          assert.equal(out.querySelectorAll("script, iframe, object, embed, style").length, 0, out.innerHTML);
          for (const element of out.querySelectorAll("*")) {
            for (const attribute of element.attributes) {
              assert.ok(!/^on/i.test(attribute.name), `${attribute.name} survived in ${out.innerHTML}`);
              assert.ok(!/javascript:/i.test(attribute.value), `a javascript: URL survived in ${out.innerHTML}`);
            }
          }
        }
      }
    }
  }
  assert.equal(dom.window.pwned, undefined);
});

test("rendering without a DOM to sanitise with is refused, not done unsafely", () => {
  assert.throws(() => renderMarkdown("<script>x</script>"), /needs a DOM/);
});

test("an image from elsewhere is a link the person may open, never something the page loads", () => {
  const page = new JSDOM("", { url: "https://relay.example/?session=s1" }).window;
  for (const streaming of [true, false]) {
    const html = renderMarkdown("Look: ![the chart](http://127.0.0.1:9/x.png?chat=secret \"Chart\") done", { streaming, window: page });
    const box = page.document.createElement("div");
    box.innerHTML = html;
    assert.equal(box.querySelectorAll("img").length, 0, html);
    const link = box.querySelector("a.remote-image");
    assert.equal(link.getAttribute("href"), "http://127.0.0.1:9/x.png?chat=secret");
    assert.equal(link.getAttribute("rel"), "noopener noreferrer");
    assert.match(link.textContent, /the chart/);
  }
  const own = renderMarkdown("![logo](/static/logo.png) ![dot](data:image/png;base64,iVBORw0KGgo=)", { window: page });
  assert.match(own, /<img src="\/static\/logo.png" alt="logo">/, "the page's own origin and data: load as images");
  assert.match(own, /<img src="data:image\/png;base64,iVBORw0KGgo=" alt="dot">/);
});

test("upstream HTML keeps no address that would load something from elsewhere", () => {
  const page = new JSDOM("", { url: "https://relay.example/" }).window;
  const box = page.document.createElement("div");
  const hostile = [
    '<img src="http://evil.example/x.png">',
    '<img srcset="http://evil.example/x.png 2x">',
    '<video poster="http://evil.example/p.png" src="http://evil.example/v.mp4"></video>',
    '<audio src="http://evil.example/a.mp3"></audio>',
    '<picture><source srcset="http://evil.example/x.png"></picture>',
    '<svg><image href="http://evil.example/x.png"></image><use href="http://evil.example/s.svg#a"></use></svg>',
    '<table background="http://evil.example/bg.png"><tr><td>x</td></tr></table>',
    '<a href="https://evil.example/" ping="http://evil.example/ping">a link is clicked, never loaded</a>',
  ];
  for (const attack of hostile) {
    box.innerHTML = renderMarkdown(attack, { window: page });
    for (const element of box.querySelectorAll("*")) {
      for (const attribute of element.attributes) {
        const loads = attribute.name !== "href" || element.tagName !== "A";
        assert.ok(!(loads && /evil\.example/.test(attribute.value)), `${attribute.name} survived in ${box.innerHTML}`);
      }
    }
  }
});
