"""`streamrelay-client` as a user gets it: `npm pack` of clients/js, installed in an empty folder, running
the example of clients/js/README.md as written against a real gateway.

The install may come from npm's cache (`--prefer-offline`); what matters is that the tarball carries
everything it needs and nothing of the repository around it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from pathlib import Path

from relay.demo_script import answer_chunks

from .node import node_for
from .system import System
from .test_js_client import real_system  # noqa: F401 (a fixture)

CLIENT = Path(__file__).parent.parent / "clients" / "js"
README = CLIENT / "README.md"
WS_VERSION = json.loads((CLIENT / "package.json").read_text())["devDependencies"]["ws"]


async def run(*command: str, cwd: Path, env: dict[str, str] | None = None, limit_seconds: float = 300) -> str:
    """Run `command` without blocking the gateway's event loop; its output, or a failure that shows it."""
    process = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), limit_seconds)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, f"{' '.join(command)} failed:\n{out.decode()[-3000:]}\n{err.decode()[-3000:]}"
    return out.decode()


def readme_example() -> str:
    """The README's runnable example: the first js block of its "A runnable example" section."""
    section = README.read_text().split("## A runnable example", 1)[1]
    found = re.search(r"```js\n(.*?)```", section, re.DOTALL)
    assert found, "clients/js/README.md has no js block under 'A runnable example'"
    return found.group(1)


async def test_packed_client_installs_in_an_empty_folder_and_its_readme_example_streams_an_answer(
    real_system: System,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    node = node_for(CLIENT)
    npm = shutil.which("npm")
    assert npm is not None
    packed = json.loads(await run(npm, "pack", "--json", "--pack-destination", str(tmp_path), cwd=CLIENT))[0]
    shipped = {entry["path"] for entry in packed["files"]}
    assert {"package.json", "README.md", "src/index.js", "src/index.d.ts"} <= shipped, shipped
    assert all(path in {"package.json", "README.md"} or path.startswith("src/") for path in shipped), shipped

    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text(json.dumps({"name": "example", "private": True, "type": "module"}))
    tarball = str(tmp_path / packed["filename"])
    await run(npm, "install", "--no-audit", "--no-fund", "--prefer-offline", tarball, f"ws@{WS_VERSION}", cwd=app)
    assert not (app / "node_modules" / "streamrelay-client").is_symlink()  # a copy of the tarball, not a link
    example = readme_example()
    (app / "ask.mjs").write_text(example)

    env = {"STREAMRELAY_URL": real_system.url, "STREAMRELAY_TOKEN": real_system.token("alice", "acme")}
    output = await run(node, "ask.mjs", cwd=app, env=env, limit_seconds=60)

    question = re.search(r'session\.send\("([^"]+)"\)', example)
    assert question, "the example sends no question"
    chunks = answer_chunks(question.group(1), 40)  # the System's demo upstream answers in 40 chunks
    printed = 0
    for chunk in chunks:  # each printed whole and in order (the handler's lines may fall between them)
        assert chunk in output[printed:], (chunk, output)
        printed = output.index(chunk, printed) + len(chunk)
    answer = "".join(chunks)
    assert output.count("[applying change ") == 1, output
    assert "name: Demo workflow" in output, output  # the change's YAML, as the handler printed it
    assert f"[answer success, {len(answer)} characters]" in output, output
