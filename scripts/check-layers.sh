#!/usr/bin/env bash
# scripts/check-layers.sh — the graph of calls between the folders of src/,
# read from the built object files, checked against the layer order of
# docs/DESIGN.md.
#
# usage: scripts/check-layers.sh [BUILD_DIR]      (default: build/native)
#        scripts/check-layers.sh --graph [BUILD_DIR]   print the graph only
#
# It builds the library's objects in BUILD_DIR (configuring it first, with
# make test-native's options, when it has no CMakeCache.txt), reads each
# object's defined and undefined global symbols with nm, maps each object to
# its folder of src/ (src/chan/chan.c.o: chan), and prints one line per edge
# between folders with the symbols that make it:
#
#     chan -> sched (weft__post weft__unpost)
#
# Folders that call each other in a cycle are printed as cycles.  The order
# of the layers, lowest first, and the known debts are in scripts/layers.allow:
#
#     layer NAME                  the next folder up (the first one is lowest)
#     edge FROM -> TO SYMBOL  why a backward use is still there
#     cycle A B C             folders that call each other today (sorted)
#
# It fails (exit 1) when
#   - an edge points to the same layer or up (FROM not above TO) and its
#     symbol is not listed as an edge line;
#   - the graph has a cycle (a set of mutually reachable folders) that no
#     cycle line lists exactly;
#   - a folder is not in the layer order;
#   - an edge or cycle line no longer matches the graph (a debt was paid:
#     remove its line, so the file only shrinks);
#   - a file of src/ includes the header of a folder above its own
#     (#include "FOLDER/x.h" in src/FROM/: FOLDER must be FROM or below it),
#     so a lower layer's header never pulls a higher one's in.
# Exit 2: usage or build errors.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
allow="$here/layers.allow"
graph_only=0
if [ "${1:-}" = "--graph" ]; then
    graph_only=1
    shift
fi
dir=${1:-build/native}
case "$dir" in /*) ;; *) dir="$root/$dir" ;; esac
jobs=${JOBS:-2}

# ---- build the objects -----------------------------------------------------
if [ ! -f "$dir/CMakeCache.txt" ]; then
    echo "+ cmake -S $root -B $dir (test-native's options)"
    cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DWEFT_WERROR=ON -DWEFT_BUILD_TESTS=ON -DWEFT_BUILD_EXAMPLES=ON \
        >/dev/null || exit 2
fi
targets=(weft_objects)
if grep -qw weft_http <<<"$(cmake --build "$dir" --target help 2>/dev/null)"; then
    targets+=(weft_http)
fi
cmake --build "$dir" -j"$jobs" --target "${targets[@]}" >/dev/null || {
    echo "check-layers: building ${targets[*]} in $dir failed" >&2
    exit 2
}

objs=()
for t in "${targets[@]}"; do
    while IFS= read -r o; do objs+=("$o"); done \
        < <(find "$dir/CMakeFiles/$t.dir/src" -name '*.o' | sort)
done
[ ${#objs[@]} -gt 0 ] || { echo "check-layers: no objects in $dir" >&2; exit 2; }

# ---- symbols: "D folder sym" (defined), "U folder sym" (undefined) ---------
syms=$(for o in "${objs[@]}"; do
    rel=${o#*.dir/src/}
    folder=${rel%%/*}
    nm -P -g --defined-only "$o" | awk -v f="$folder" '{ print "D", f, $1 }'
    nm -P -u "$o" | awk -v f="$folder" '{ print "U", f, $1 }'
done)

# ---- includes between folders: "I from to file" -----------------------------
includes=$(cd "$root/src" && grep -HoE '^#include "[a-z_]+/[a-z_0-9]+\.h"' -- */*.c */*.h |
    sed -E 's|^([a-z_]+)/([^:]*):#include "([a-z_]+)/.*|I \1 \3 src/\1/\2|' |
    awk '$2 != $3' | sort -u)

# ---- the graph and the checks ----------------------------------------------
# Edges "from to sym", one per symbol, sorted and unique.
edges=$(awk '
    $1 == "D" { def[$3] = $2 }
    $1 == "U" { use[NR] = $2 " " $3 }
    END {
        for (i in use) {
            split(use[i], a, " ")
            if ((a[2] in def) && def[a[2]] != a[1])
                print a[1], def[a[2]], a[2]
        }
    }' <<<"$syms" | sort -u)

awk -v graph_only="$graph_only" -v allowfile="${allow#"$root"/}" '
    # pass 1: scripts/layers.allow
    FNR == NR {
        sub(/#.*/, "")
        if (NF == 0) next
        if ($1 == "layer" && NF == 2) { rank[$2] = nlayers++; order[nlayers] = $2; next }
        if ($1 == "edge" && NF >= 5 && $3 == "->") {
            allowed[$2 " " $4 " " $5] = 1; next
        }
        if ($1 == "cycle" && NF >= 3) {
            c = $2; for (i = 3; i <= NF; i++) c = c " " $i
            known_cycle[c] = 1; next
        }
        printf "check-layers: %s:%d: cannot read: %s\n", allowfile, FNR, $0
        bad = 1; next
    }
    # pass 2: includes "I from to file", then edges "from to sym"
    $1 == "I" {
        if (($2 in rank) && ($3 in rank) && rank[$3] > rank[$2]) {
            printf "check-layers: %s (%s) includes a header of %s, a higher layer\n", $4, $2, $3
            bad = 1
        }
        next
    }
    {
        key = $1 " " $2
        if (!(key in syms)) { nedges++; edge_from[nedges] = $1; edge_to[nedges] = $2 }
        syms[key] = syms[key] " " $3
        seen[$1 " " $2 " " $3] = 1
        node[$1] = node[$2] = 1
        adj[$1, $2] = 1
        back = !(($1 in rank) && ($2 in rank) && rank[$2] < rank[$1])
        if (back && !(($1 " " $2 " " $3) in allowed))
            new_back[key] = new_back[key] " " $3
        if (back) back_edge[key] = 1
    }
    END {
        for (f in node)
            if (!(f in rank)) {
                printf "check-layers: folder %s is not in the layer order (%s)\n", f, allowfile
                bad = 1
            }
        # Transitive closure (a dozen folders): reach[a, b].
        for (a in node) for (b in node) reach[a, b] = ((a, b) in adj)
        for (k in node) for (a in node) if (reach[a, k]) for (b in node)
            if (reach[k, b]) reach[a, b] = 1
        # Cycles: the strongly connected sets of more than one folder,
        # members sorted by name.
        n = 0
        for (a in node) names[++n] = a
        for (i = 2; i <= n; i++) {   # insertion sort
            v = names[i]
            for (j = i - 1; j >= 1 && names[j] > v; j--) names[j + 1] = names[j]
            names[j + 1] = v
        }
        for (i = 1; i <= n; i++) {
            a = names[i]
            if (a in in_cycle) continue
            c = a; m = 1
            for (j = i + 1; j <= n; j++) {
                b = names[j]
                if (reach[a, b] && reach[b, a]) { c = c " " b; in_cycle[b] = 1; m++ }
            }
            if (m > 1) cycles[c] = 1
        }

        # Print the graph, lowest layer first.
        print "layers, lowest first: " join_order()
        print "edges (FROM -> TO: FROM uses symbols TO defines):"
        for (r = 1; r <= nlayers; r++)
            for (e = 1; e <= nedges; e++) {
                if (edge_from[e] != order[r]) continue
                key = edge_from[e] " " edge_to[e]
                mark = (key in back_edge) ? "  <- UP" : ""
                printf "  %s -> %s (%s)%s\n", edge_from[e], edge_to[e], substr(syms[key], 2), mark
            }
        for (e = 1; e <= nedges; e++)
            if (!(edge_from[e] in rank))
                printf "  %s -> %s (%s)  <- UNKNOWN FOLDER\n", edge_from[e], edge_to[e], substr(syms[edge_from[e] " " edge_to[e]], 2)
        ncyc = 0
        for (c in cycles) { printf "cycle: %s\n", c; ncyc++ }
        if (ncyc == 0) print "cycles: none"
        if (graph_only == 1) exit 0

        for (key in new_back) {
            split(key, p, " ")
            printf "check-layers: NEW edge against the layer order: %s -> %s (%s)\n", p[1], p[2], substr(new_back[key], 2)
            bad = 1
        }
        for (c in cycles)
            if (!(c in known_cycle)) {
                printf "check-layers: NEW cycle between folders: %s\n", c
                bad = 1
            }
        for (k in allowed)
            if (!(k in seen)) {
                split(k, p, " ")
                printf "check-layers: paid debt: %s -> %s %s is gone; remove its line from %s\n", p[1], p[2], p[3], allowfile
                bad = 1
            }
        for (c in known_cycle)
            if (!(c in cycles)) {
                printf "check-layers: cycle %s is gone; remove its line from %s\n", c, allowfile
                bad = 1
            }
        if (bad) exit 1
        print "check-layers: ok"
    }
    function join_order(   s, r) {
        s = order[1]
        for (r = 2; r <= nlayers; r++) s = s " < " order[r]
        return s
    }
' "$allow" - <<<"$includes
$edges"
