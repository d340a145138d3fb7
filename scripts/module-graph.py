#!/usr/bin/env python3
"""Import graph of a crate's modules: which module names which (`crate::a::b`
paths, `use super::` resolved), the cycles among them, and the longest files.

    scripts/module-graph.py [daemon/src]

Granularity is the file: `gpu/engine.rs` is `gpu::engine`, `gpu/mod.rs` is
`gpu`. A reference to `crate::gpu::engine::X` counts as an edge to
`gpu::engine`; one to `crate::gpu::X` to `gpu`. Tests (`#[cfg(test)]` to the
end of the file) are left out. Exit status 1 when there is a cycle."""
import os
import re
import sys

args = [a for a in sys.argv[1:] if not a.startswith("--")]
root = args[0] if args else "daemon/src"
mods = {}
for d, _, files in os.walk(root):
    for f in files:
        if not f.endswith(".rs"):
            continue
        path = os.path.join(d, f)
        rel = os.path.relpath(path, root)[:-3].split(os.sep)
        if rel[-1] == "mod":
            rel = rel[:-1]
        if rel in (["lib"], ["main"]):
            continue
        mods["::".join(rel)] = path

def body(path):
    text = open(path).read()
    cut = text.find("#[cfg(test)]\nmod tests")
    return text if cut < 0 else text[:cut]

def target(parts):
    """The longest known module a path names."""
    for n in range(len(parts), 0, -1):
        m = "::".join(parts[:n])
        if m in mods:
            return m
    return None

edges = {m: set() for m in mods}
path_re = re.compile(r"\b(crate|super)((?:::\w+)+)")
group_re = re.compile(r"\b(crate|super)((?:::\w+)*)::\{([^}]*)\}", re.S)
for m, path in mods.items():
    text = body(path)
    here = m.split("::")
    def resolve(kind, rest):
        parts = [p for p in rest.split("::") if p]
        if kind == "crate":
            return parts
        # `super` is the parent of this module, whether a file or a mod.rs.
        base = here[:-1]
        while parts and parts[0] == "super":
            parts = parts[1:]
            base = base[:-1]
        return base + parts
    for kind, rest in path_re.findall(text):
        t = target(resolve(kind, rest))
        if t and t != m and not m.startswith(t + "::"):
            edges[m].add(t)
    for kind, rest, inner in group_re.findall(text):
        for item in inner.split(","):
            item = item.strip().split(" as ")[0].strip()
            if not item or item == "self":
                continue
            t = target(resolve(kind, rest) + item.split("::"))
            if t and t != m and not m.startswith(t + "::"):
                edges[m].add(t)

# A parent module re-exporting its children is not a cycle of design: an
# edge from a module to its own descendant is dropped.
for m in edges:
    edges[m] = {t for t in edges[m] if not t.startswith(m + "::")}

# With --top, modules are folded into their top-level module (`gpu::engine`
# into `gpu`): a cycle between two directories shows even when no two files
# name each other.
if "--top" in sys.argv:
    folded = {}
    for m, ts in edges.items():
        a = m.split("::")[0]
        folded.setdefault(a, set())
        folded[a] |= {t.split("::")[0] for t in ts} - {a}
    edges = folded

# Tarjan's strongly connected components.
index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]
sys.setrecursionlimit(10000)
def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in edges[v]:
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
        sccs.append(sorted(comp))
for v in sorted(edges):
    if v not in index:
        visit(v)

cycles = [c for c in sccs if len(c) > 1]
print(f"{len(mods)} modules, {sum(len(e) for e in edges.values())} edges")
print(f"cycles: {len(cycles)}")
for c in cycles:
    inner = sorted(f"{a} -> {b}" for a in c for b in edges[a] if b in c)
    print("  " + " <-> ".join(c))
    for e in inner:
        print("      " + e)
lines = sorted(((sum(1 for _ in open(p)), m) for m, p in mods.items()), reverse=True)[:5]
print("longest: " + ", ".join(f"{m} ({n} lines)" for n, m in lines))
sys.exit(1 if cycles else 0)
