import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { test } from "node:test";

test("the TypeScript types compile and describe the documented usage", () => {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  const done = spawnSync(process.execPath, [tsc, "--noEmit", "--strict", "--skipLibCheck", "--module", "nodenext",
    "--target", "es2022", "--lib", "es2022,dom", "--jsx", "react-jsx", "test/usage.tsx"], { encoding: "utf8" });
  assert.equal(done.status, 0, done.stdout + done.stderr);
});
