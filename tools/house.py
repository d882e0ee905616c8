#!/usr/bin/env python3
"""The shape of the workspace's code, measured: what issue 27 asks of it.

- circles between the modules of one crate (a module's `crate::a::b` paths name the module it
  uses; a re-export in `lib.rs` is followed to the module it comes from),
- files over 600 lines outside tests,
- functions over 80 lines outside tests, unless `ARCHITECTURE.md` names them in its
  "Long functions" list (`name` in `path`).

Prints what it finds. Exits 1 on a circle; with `--strict` (what CI runs), also on a long file
or function (`--report`: never). No dependencies beyond Python 3.9. The parse is textual: brace matching with strings, chars and
comments skipped, which is enough for rustfmt-formatted code.
"""

import os
import re
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_FILE = 600
MAX_FN = 80


def rust_files(crate_src):
    for d, _, files in os.walk(crate_src):
        for f in files:
            if f.endswith(".rs"):
                yield os.path.join(d, f)


def module_of(src, path):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ("lib", "main", "mod"):
        rel = rel[:-1]
    return "::".join(rel)


def strip_tests(text):
    """Drops `#[cfg(test)] mod ... { ... }` blocks (the code that is a test)."""
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(pub\s+)?mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        end = match_brace(text, m.end() - 1)
        out.append(text[i : m.start()])
        i = end + 1
    out.append(text[i:])
    return "".join(out)


def blank_literals(text):
    """Strings, chars and comments replaced by spaces (newlines kept), so braces can be counted."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r"r(#*)\"", text[i:]).group(1)
            close = '"' + hashes
            j = text.find(close, i + len(hashes) + 2)
            j = n if j < 0 else j + len(close)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(re.sub(r"[^\n]", " ", text[i : j + 1]))
            i = j + 1
        elif c == "'":
            m = re.match(r"'(\\.|\\u\{[0-9a-fA-F]+\}|\\x[0-9a-fA-F]{2}|[^\\'])'", text[i:])
            if m:
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
            else:  # a lifetime
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def match_brace(text, open_at):
    depth = 0
    for j in range(open_at, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(text) - 1


def long_functions(path, code):
    found = []
    for m in re.finditer(r"\bfn\s+(\w+)", code):
        # the body's opening brace: the first `{` after the signature at depth 0 of parens
        j, paren = m.end(), 0
        while j < len(code):
            ch = code[j]
            if ch in "(<[":
                paren += 1
            elif ch in ")>]":
                paren -= 1
            elif ch == ";" and paren <= 0:
                j = -1  # a declaration without a body
                break
            elif ch == "{" and paren <= 0:
                break
            j += 1
        if j < 0 or j >= len(code):
            continue
        end = match_brace(code, j)
        first = code.count("\n", 0, m.start()) + 1
        last = code.count("\n", 0, end) + 1
        if last - first + 1 > MAX_FN:
            found.append((m.group(1), first, last - first + 1))
    return found


def crate_edges(src):
    """module -> set of modules of the same crate it names."""
    files = {module_of(src, p): p for p in rust_files(src)}
    modules = set(files)
    reexports = {}  # name in the crate root -> module it comes from
    root = files.get("")
    if root:
        text = open(root).read()
        for m in re.finditer(r"pub(?:\(crate\))? use (?:self::|crate::)?(\w+)::(?:\{([^}]*)\}|(\w+))", text):
            names = (m.group(2) or m.group(3) or "").replace("\n", " ")
            for name in re.split(r"\s*,\s*", names):
                name = name.strip().split(" as ")[-1].strip()
                if name:
                    reexports[name] = m.group(1)
    edges = defaultdict(set)
    for mod, path in files.items():
        code = blank_literals(strip_tests(open(path).read()))
        parents = mod.split("::")[:-1] if mod else []
        refs = set()
        for m in re.finditer(r"\bcrate::((?:\w+::)*\w+)", code):
            refs.add(m.group(1))
        for m in re.finditer(r"\buse\s+crate::\{([^;]*)\};", code, re.S):
            for part in re.split(r",(?![^{]*\})", m.group(1)):
                part = part.strip()
                if part:
                    refs.add(re.sub(r"::\{.*", "", part, flags=re.S).strip())
        for m in re.finditer(r"\bsuper::((?:\w+::)*\w+)", code):
            base = mod.split("::")[:-1]
            refs.add("::".join(base[:-0] if False else base) + ("::" if base else "") + m.group(1))
        for ref in refs:
            parts = ref.split("::")
            target = None
            for k in range(len(parts), 0, -1):
                cand = "::".join(parts[:k])
                if cand in modules:
                    target = cand
                    break
            if target is None and parts[0] in reexports:
                target = reexports[parts[0]]
            if target is not None and target != mod and target != "":
                edges[mod].add(target)
    return edges


def circles(edges):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def allowed_long():
    text = open(os.path.join(ROOT, "ARCHITECTURE.md")).read()
    m = re.search(r"### Long functions\n(.*?)(\n## |\n### |\Z)", text, re.S)
    if not m:
        return set()
    return set(re.findall(r"`(\w+)` in `([^`]+)`", m.group(1)))


def main():
    report_only = "--report" in sys.argv
    strict = "--strict" in sys.argv
    allowed = allowed_long()
    problems = 0
    circles_found = 0
    crates = sorted(os.listdir(os.path.join(ROOT, "crates"))) + ["../benches"]
    for crate in crates:
        src = os.path.normpath(os.path.join(ROOT, "crates", crate, "src"))
        if not os.path.isdir(src):
            continue
        for comp in circles(crate_edges(src)):
            print(f"circle in {crate}: {' <-> '.join(comp)}")
            problems += 1
            circles_found += 1
        for path in sorted(rust_files(src)):
            rel = os.path.relpath(path, ROOT)
            raw = open(path).read()
            code = blank_literals(strip_tests(raw))
            lines = code.count("\n")
            if lines > MAX_FILE:
                print(f"file over {MAX_FILE} lines (tests left out): {rel}: {lines}")
                problems += 1
            for name, first, n in long_functions(rel, code):
                if (name, rel) in allowed:
                    continue
                print(f"function over {MAX_FN} lines: {rel}:{first} {name}: {n}")
                problems += 1
    print(f"house: {problems} finding(s), {circles_found} circle(s)")
    failed = problems > 0 if strict else circles_found > 0
    return 0 if report_only or not failed else 1


if __name__ == "__main__":
    sys.exit(main())
