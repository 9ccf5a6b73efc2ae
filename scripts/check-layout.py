#!/usr/bin/env python3
"""Checks the dependency rules between folders (ARCHITECTURE.md draws them).

Each crate's `src/` is split into folders by role; a folder may use only the folders (and
external crates) its rule allows. The check reads every non-test source file, resolves its
`crate::…` and `super::…` paths to the top-level module they name, finds the external crates
it names, and prints each use a rule forbids as `file:line: rule`. Exit code 1 when one
breaks a rule, 0 otherwise.

Test code may use anything: `tests.rs` files and `#[cfg(test)] mod …` blocks are skipped.

    scripts/check-layout.py              check the tree
    scripts/check-layout.py --self-test  check that the checker catches planted violations
"""

import os
import re
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# crate -> folder -> (crate modules it may use, external crates it may not use).
# A folder not listed may use anything (the composition roots, the crate root).
SERVICE = ("query_api", "axum", "tower", "tower_http")
RULES = {
    "indexer": {
        "util": ((), SERVICE),
        "models": (("util",), SERVICE),
        "telemetry": (("models", "util"), SERVICE),
        "store": (("models", "util"), SERVICE),
        "ingest": (("models", "store", "telemetry", "util"), SERVICE),
        "reindex": (("ingest", "models", "store", "telemetry", "util"), SERVICE),
        "ops": (("models", "telemetry", "util"), ("axum", "tower", "tower_http")),
        "http": (("models", "ops", "reindex", "telemetry", "util"), ()),
        "tools": (("models", "util"), SERVICE),
        "cli": (("ingest", "models", "tools", "util"), ("axum", "tower", "tower_http")),
    },
    "query-api": {
        "scorers": ((), ("axum", "tower", "tower_http", "tokio", "http")),
        "search": (("scorers",), ("axum", "tower", "tower_http", "tokio", "http")),
    },
    # schemas is flat: one module per file, in one direction.
    "schemas": {
        "event": ((), ()),
        "decode": (("event",), ()),
        "document": (("event",), ()),
        "state": (("document", "event"), ()),
        "index": (("state", "document", "event"), ()),
        "stores": (("state", "document"), ()),
        "values": (("index", "state", "stores"), ()),
        "live": (("index", "state", "document", "values"), ()),
        "contract": (("event", "document"), ()),
    },
}
# The binary is thin: it may only call the command line and the commands.
BINARIES = {"indexer/src/main.rs": ("cli", "commands")}

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip(text):
    """Source without comments and string contents (same line numbers)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4]):
            m = re.match(r"'(\\.|[^\\'])'", text[i:i + 4])
            out.append("' '")
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def without_tests(code):
    """`code` with `#[cfg(test)] mod name { … }` blocks blanked (line numbers kept)."""
    out = list(code)
    for m in re.finditer(r"#\[cfg\((all\()?test[^\]]*\]\s*(pub\s+)?mod\s+" + IDENT + r"\s*\{", code):
        depth, j = 0, m.end() - 1
        while j < len(code):
            if code[j] == "{":
                depth += 1
            elif code[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        for k in range(m.start(), min(j + 1, len(code))):
            if out[k] != "\n":
                out[k] = " "
    return "".join(out)


def module_path(src, path):
    """The module path of a file: src/ingest/writer/commit.rs -> [ingest, writer, commit]."""
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] == "mod":
        rel = rel[:-1]
    if rel in (["lib"], ["main"]):
        rel = []
    return rel


def group_heads(code, start):
    """The first path segment of each item of the `{…}` group starting at `start`."""
    depth, j, items, current = 0, start, [], ""
    while j < len(code):
        c = code[j]
        if c == "{":
            depth += 1
            if depth == 1:
                j += 1
                continue
        elif c == "}":
            depth -= 1
            if depth == 0:
                items.append(current)
                break
        if depth == 1 and c == ",":
            items.append(current)
            current = ""
        elif depth >= 1:
            current += c
        j += 1
    heads = []
    for item in items:
        m = re.match(r"\s*(" + IDENT + ")", item)
        if m:
            heads.append(m.group(1))
    return heads


def used_modules(code, own):
    """(line, top-level module) for every crate-internal path in `code` of module `own`."""
    found = []
    for m in re.finditer(r"\b(crate|(?:super::)+)(?:::)?", code):
        if m.group(1) == "crate":
            base = []
        else:
            ups = m.group(1).count("super")
            # `super` of a file `a/b.rs` (module [a, b]) is [a].
            if ups > len(own):
                continue
            base = own[: len(own) - ups]
        rest = code[m.end():]
        line = code.count("\n", 0, m.start()) + 1
        if rest.startswith("{"):
            heads = group_heads(code, m.end())
        else:
            h = re.match(IDENT, rest)
            heads = [h.group(0)] if h else []
        for head in heads:
            if head in ("self", "super", "crate"):
                continue
            target = (base + [head])[0]
            found.append((line, target))
    return found


def check_file(crate, src, path, problems):
    rel = os.path.relpath(path, ROOT)
    if os.path.basename(path) == "tests.rs":
        return
    with open(path, encoding="utf-8") as f:
        code = without_tests(strip(f.read()))
    own = module_path(src, path)
    if rel in BINARIES:
        allowed = BINARIES[rel]
        for m in re.finditer(r"\bindexer::(" + IDENT + ")", code):
            if m.group(1) not in allowed:
                line = code.count("\n", 0, m.start()) + 1
                problems.append(f"{rel}:{line}: the binary may only use {', '.join(allowed)}; found indexer::{m.group(1)}")
        return
    if not own:
        return
    folder = own[0]
    rules = RULES.get(crate, {})
    if folder not in rules:
        return
    allowed, forbidden_crates = rules[folder]
    for line, target in used_modules(code, own):
        if target != folder and target not in allowed:
            problems.append(
                f"{rel}:{line}: {folder}/ may not use crate::{target} (allowed: {', '.join(allowed) or 'nothing of the crate'})"
            )
    for ext in forbidden_crates:
        for m in re.finditer(r"(?<![A-Za-z0-9_:])" + ext + r"::", code):
            line = code.count("\n", 0, m.start()) + 1
            problems.append(f"{rel}:{line}: {folder}/ may not use the {ext} crate")


def check(root=ROOT):
    problems = []
    for crate in ("indexer", "query-api", "schemas"):
        src = os.path.join(root, crate, "src")
        for dirpath, _, files in os.walk(src):
            for name in sorted(files):
                if name.endswith(".rs"):
                    check_file(crate, src, os.path.join(dirpath, name), problems)
    return problems


def self_test():
    """Plants one violation of each kind in a scratch tree and checks each is reported, and
    that allowed uses, test code and comments are not."""
    planted = {
        "indexer/src/ingest/writer/mod.rs": "use crate::http::AppState;\nuse super::super::cli::X;\n",
        "indexer/src/tools/publish.rs": "use crate::{models::Topics, store::IndexStore};\n",
        "indexer/src/store/open.rs": "fn f() { query_api::search(); }\n",
        "indexer/src/main.rs": "fn main() { indexer::store::x(); }\n",
        "query-api/src/search/query.rs": "use axum::Router;\n",
        "query-api/src/scorers/min_match.rs": "use crate::search::Word;\n",
        "schemas/src/document.rs": "use crate::index::IndexFields;\n",
        # Allowed, or test code, or comments: never reported.
        "indexer/src/reindex/online.rs": "use crate::ingest::Control;\n// use crate::http::X;\nlet s = \"crate::cli\";\n#[cfg(test)]\nmod tests {\n    use crate::http::AppState;\n}\n",
        "indexer/src/ingest/merge/tests.rs": "use crate::http::AppState;\n",
        "indexer/src/commands/run.rs": "use crate::http::app;\nuse axum::serve;\n",
    }
    expected = [
        ("indexer/src/ingest/writer/mod.rs:1:", "crate::http"),
        ("indexer/src/ingest/writer/mod.rs:2:", "crate::cli"),
        ("indexer/src/tools/publish.rs:1:", "crate::store"),
        ("indexer/src/store/open.rs:1:", "query_api"),
        ("indexer/src/main.rs:1:", "indexer::store"),
        ("query-api/src/search/query.rs:1:", "axum"),
        ("query-api/src/scorers/min_match.rs:1:", "crate::search"),
        ("schemas/src/document.rs:1:", "crate::index"),
    ]
    with tempfile.TemporaryDirectory() as root:
        for rel, text in planted.items():
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        global ROOT
        saved, ROOT = ROOT, root
        try:
            problems = check(root)
        finally:
            ROOT = saved
    failures = []
    for where, what in expected:
        if not any(p.startswith(where) and what in p for p in problems):
            failures.append(f"not reported: {where} {what}")
    reported_files = {p.split(":")[0] for p in problems}
    for clean in ("indexer/src/reindex/online.rs", "indexer/src/ingest/merge/tests.rs", "indexer/src/commands/run.rs"):
        if clean in reported_files:
            failures.append(f"reported although allowed: {[p for p in problems if p.startswith(clean)]}")
    if len(problems) != len(expected):
        failures.append(f"expected {len(expected)} problems, got {len(problems)}: {problems}")
    for f in failures:
        print(f"self-test: {f}")
    print("self-test:", "failed" if failures else f"ok ({len(expected)} planted violations caught)")
    return 1 if failures else 0


def main():
    if "--self-test" in sys.argv[1:]:
        return self_test()
    problems = check()
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} dependency rule(s) broken; see ARCHITECTURE.md")
        return 1
    print("layout: every folder uses only what its rule allows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
