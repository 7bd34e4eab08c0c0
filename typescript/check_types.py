"""Prove that openapi.yaml gives a second language real types (``tox -e typescript``).

1. ``generated/typescript/chat-text.d.ts`` is openapi-typescript's output for openapi.yaml
   (``--default-non-nullable false``, so fields with server-applied defaults stay optional),
   written by ``chat-text-regenerate`` and drift-checked there; this script only reads it;
2. ``tsc --noEmit --strict`` compiles ``typescript/usage.ts`` against it, and type-checks the
   JavaScript that calls the npm package ``chat-text`` (``examples/typescript/main.mjs`` and the
   cross-language driver ``typescript/driver/driver.mjs``, ``checkJs``) against the package's
   sources (``typescript/src``, through ``paths``: no build needed);
3. a copy of usage.ts without its one ``// @ts-expect-error`` directive must FAIL to compile,
   with a type error on exactly the line after the directive (the invalid role): otherwise the
   directive would be hiding nothing and the types would not be checking roles.

2 and 3 are one tsc program (each file a module of its own): one start of the compiler, the
libraries checked once; each file's errors are told apart by their path.

Needs ``npm ci`` first (node_modules/). Exit 0 when all three hold, 1 otherwise.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
USAGE = ROOT / "typescript" / "usage.ts"
# JavaScript that calls the package, checked with checkJs against typescript/src
CALLERS = (
    ROOT / "examples" / "typescript" / "main.mjs",
    ROOT / "typescript" / "driver" / "driver.mjs",
)
OUT = ROOT / "build" / "typescript"
TYPES = ROOT / "generated" / "typescript" / "chat-text.d.ts"
BIN = ROOT / "node_modules" / ".bin"
DIRECTIVE = "// @ts-expect-error"
IMPORT = '"../generated/typescript/chat-text"'


NODE_GLOBALS = """declare const process: {
  env: Record<string, string | undefined>;
  exitCode: number | undefined;
  stdin: AsyncIterable<string> & { setEncoding(encoding: "utf8"): void };
  stdout: { write(text: string): boolean };
};
"""


class CheckError(Exception):
    pass


def run(args: list[str]) -> subprocess.CompletedProcess[str]:
    tool = BIN / args[0]
    if not tool.exists():
        raise CheckError(f"{tool} not found: run `npm ci` first")
    return subprocess.run(
        [str(tool), *args[1:]], cwd=ROOT, capture_output=True, text=True, check=False
    )


def generated_types() -> None:
    if not TYPES.is_file():
        raise CheckError(f"{TYPES.relative_to(ROOT)} is missing: run chat-text-regenerate")
    print(f"types: {TYPES.relative_to(ROOT)} (openapi-typescript output, drift-checked)")


ERROR = re.compile(r"^(?P<path>\S[^(\n]*)\((?P<line>\d+),\d+\): error (?P<code>TS\d+)", re.M)


def negative_copy() -> tuple[Path, int]:
    """usage.ts without the directive, next to the generated types; and the 1-based line
    where tsc must now report the error."""
    lines = USAGE.read_text().splitlines(keepends=True)
    marks = [i for i, line in enumerate(lines) if line.strip().startswith(DIRECTIVE)]
    if len(marks) != 1:
        raise CheckError(f"{USAGE.name} must hold exactly one {DIRECTIVE}, found {len(marks)}")
    text = "".join(lines[: marks[0]] + lines[marks[0] + 1 :])
    if IMPORT not in text:
        raise CheckError(f"{USAGE.name} must import the generated types from {IMPORT}")
    OUT.mkdir(parents=True, exist_ok=True)
    copy = OUT / "usage_without_expect_error.ts"
    copy.write_text(text.replace(IMPORT, '"../../generated/typescript/chat-text"'))
    config = OUT / "tsconfig.both.json"
    files = [f"../../typescript/{USAGE.name}", copy.name]
    files += [f"../../{path.relative_to(ROOT).as_posix()}" for path in CALLERS]
    # the few Node globals the callers use (all of @types/node would triple the compile time)
    (OUT / "node-globals.d.ts").write_text(NODE_GLOBALS)
    files.append("node-globals.d.ts")
    settings = {
        "extends": "../../typescript/tsconfig.check.json",
        "compilerOptions": {
            "allowJs": True,
            "checkJs": True,
            "paths": {"chat-text": ["../../typescript/src/index.ts"]},
            "rootDirs": ["../../typescript/src", "../../generated/typescript"],
        },
        "files": files,
    }
    config.write_text(json.dumps(settings, indent=1) + "\n")
    return copy, marks[0] + 1


def compile_both() -> None:
    copy, line = negative_copy()
    proc = run(["tsc", "--noEmit", "--strict", "-p", str(OUT / "tsconfig.both.json")])
    found = [(Path(m["path"]).name, int(m["line"]), m["code"]) for m in ERROR.finditer(proc.stdout)]
    if any(name != copy.name for name, _, _ in found) or (proc.returncode != 0 and not found):
        raise CheckError(f"tsc --noEmit --strict failed:\n{proc.stdout}")
    print(f"tsc --noEmit --strict: {USAGE.relative_to(ROOT)} compiles")
    for path in CALLERS:
        print(f"tsc --noEmit --strict --checkJs: {path.relative_to(ROOT)} (the package's types)")
    errors = [(number, code) for _, number, code in found]
    if proc.returncode == 0 or not errors:
        raise CheckError(
            f"without its {DIRECTIVE}, {USAGE.name} still compiles: the invalid role is not"
            " rejected, so the generated types do not check roles"
        )
    if {n for n, _ in errors} != {line}:
        raise CheckError(
            f"expected tsc errors only on line {line} (the invalid role), got:\n{proc.stdout}"
        )
    codes = ", ".join(sorted({code for _, code in errors}))
    print(
        f"without {DIRECTIVE}: tsc fails as it must, on line {line} ({codes}): "
        "the invalid role is a type error"
    )


def main() -> int:
    if shutil.which("node") is None:
        print("error: node is not installed", file=sys.stderr)
        return 1
    try:
        generated_types()
        compile_both()
    except CheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("OK: the TypeScript types generated from openapi.yaml are real")
    return 0


if __name__ == "__main__":
    sys.exit(main())
