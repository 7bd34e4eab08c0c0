// The package build, run by `npm pack` / `npm publish` (the "prepack" script) and by nothing
// else: a clean dist/ from src/ with tsc --strict (TypeScript from this folder's or an
// enclosing node_modules), plus the generated types file the declarations import.
import { spawnSync } from "node:child_process";
import { copyFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
const types = join(here, "..", "generated", "typescript", "chat-text.d.ts");
let tsc;
try {
  tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
} catch {
  console.error("build: TypeScript is not installed: run `npm ci` here (or in the repository)");
  process.exit(1);
}
rmSync(dist, { recursive: true, force: true });
const result = spawnSync(process.execPath, [tsc, "-p", join(here, "tsconfig.json")], {
  stdio: "inherit",
});
if (result.status !== 0) process.exit(result.status ?? 1);
copyFileSync(types, join(dist, "chat-text.d.ts"));
