// Tabs editing hosted documents with the real yjs, y-protocols and phoenix packages and the web app's
// own provider (src/yjs_channel.js), driven by JSON commands on stdin; each line printed is JSON.
// Commands: {op:"open", tab, url, token, topic, name?} {op:"insert", tab, index, text}
//           {op:"delete", tab, index, length} {op:"close", tab}
// Printed:  {tab, kind:"synced"|"text"|"awareness"|"error", text?, names?, reason?}
import { createInterface } from "node:readline";
import { Socket } from "phoenix";
import WebSocket from "ws";
import * as Y from "yjs";
import { ChannelProvider } from "../src/yjs_channel.js";

const tabs = new Map();
const print = (line) => process.stdout.write(JSON.stringify(line) + "\n");

function names(tab) {
  return [...tab.provider.awareness.getStates().entries()]
    .filter(([client]) => client !== tab.doc.clientID)
    .map(([, state]) => state.user?.name)
    .filter(Boolean)
    .sort();
}

async function open({ tab: id, url, token, topic, name }) {
  const socket = new Socket(url, { transport: WebSocket, params: { token }, reconnectAfterMs: () => 100 });
  socket.connect();
  const doc = new Y.Doc();
  const provider = new ChannelProvider(socket, topic, doc);
  const tab = { socket, doc, provider, text: doc.getText("text") };
  tabs.set(id, tab);
  if (name) provider.awareness.setLocalStateField("user", { name, color: "#30bced" });
  tab.text.observe(() => print({ tab: id, kind: "text", text: tab.text.toString() }));
  provider.awareness.on("change", () => print({ tab: id, kind: "awareness", names: names(tab) }));
  provider.on("synced", () => print({ tab: id, kind: "synced", text: tab.text.toString() }));
  try {
    await provider.connect();
  } catch (error) {
    print({ tab: id, kind: "error", reason: error.reason || String(error) });
  }
}

const commands = {
  open,
  insert: ({ tab, index, text }) => tabs.get(tab).text.insert(index, text),
  delete: ({ tab, index, length }) => tabs.get(tab).text.delete(index, length),
  close: ({ tab: id }) => {
    const tab = tabs.get(id);
    tab.provider.destroy();
    setTimeout(() => tab.socket.disconnect(), 50);
    tabs.delete(id);
  },
};

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const command = JSON.parse(line);
  await commands[command.op](command);
}
for (const tab of tabs.values()) tab.socket.disconnect();
