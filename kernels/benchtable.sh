#!/bin/sh
# benchtable.sh prints the kernel tables of docs/benchmarks.md (## Kernels).
#
# It runs the kernel benchmarks ROUNDS times (default 10), each round the
# whole list once for BENCHTIME (default 30ms) per benchmark, and reports
# per benchmark the minimum over the rounds. The rounds interleave every
# implementation over several minutes, so a burst of load from other work on
# a shared machine hits one sample, not all of one benchmark's; the minimum
# is then the best estimate of the kernel's own cost, and the ratios compare
# like with like. BENCH (default .) narrows the list. Usage, from the repo
# root:
#
#	sh kernels/benchtable.sh > /tmp/kernels.md
#
# METRIC=cpu (the default) tabulates the benchmarking thread's CPU time
# (cpu-ns/op and the like), which leaves out the time the thread waited for a
# core; METRIC=wall tabulates wall time (ns/op).
# RAW=file keeps the raw `go test -bench` output; RAW_IN=file formats an
# earlier raw output (from another machine, say) without running anything.
set -eu
ROUNDS=${ROUNDS:-10}
BENCH=${BENCH:-.}
BENCHTIME=${BENCHTIME:-30ms}
METRIC=${METRIC:-cpu}
cd "$(dirname "$0")"
if [ -n "${RAW_IN:-}" ]; then
	raw=$RAW_IN
else
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	go test -c -o "$tmp/kernels.test" .
	raw=${RAW:-$tmp/raw.txt}
	: >"$raw"
	for _ in $(seq "$ROUNDS"); do
		"$tmp/kernels.test" -test.run '^$' -test.bench "$BENCH" -test.benchtime "$BENCHTIME" >>"$raw"
	done
fi
runs=$(grep -c '^BenchmarkL2Sq/dim=768/impl=generic-' "$raw" || true)
echo "CPU: $(sed -n 's/^cpu: //p' "$raw" | head -1 | sed 's/ *$//'); $(sed -n 's/^goos: //p' "$raw" | head -1)/$(sed -n 's/^goarch: //p' "$raw" | head -1);" \
	"min over $runs rounds per benchmark of $METRIC time."
echo
awk -v metric="$METRIC" '
/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	ns = ""; vec = ""; cns = ""; cvec = ""
	for (i = 2; i <= NF; i++) {
		if ($i == "ns/op") ns = $(i-1)
		if ($i == "ns/vec" || $i == "ns/code") vec = $(i-1)
		if ($i == "cpu-ns/op") cns = $(i-1)
		if ($i == "cpu-ns/vec" || $i == "cpu-ns/code") cvec = $(i-1)
	}
	# bytes per op, from the MB/s of this run: MB/s = bytes / ns * 1000
	for (i = 2; i <= NF; i++) if ($i == "MB/s") bytes[name] = $(i-1) * ns / 1000
	if (metric == "cpu" && cns != "") ns = cns
	if (metric == "cpu" && cvec != "") vec = cvec
	if (!(name in best) || ns + 0 < best[name] + 0) best[name] = ns
	if (vec != "" && (!(name in bestv) || vec + 0 < bestv[name] + 0)) bestv[name] = vec
}
function get(n) { return (n in best) ? best[n] : "" }
function getv(n) { return (n in bestv) ? bestv[n] : "" }
function cell(n,   v) {
	v = get(n)
	if (v == "") return "–"
	if (n in bytes && v > 0) return sprintf("%.1f (%.1f GB/s)", v, bytes[n] / v)
	return sprintf("%.1f", v)
}
function ratio(a, b) { return (get(a) == "" || get(b) == "" || get(b) == 0) ? "–" : sprintf("%.1fx", get(a) / get(b)) }
function ratiov(a, b) { return (getv(a) == "" || getv(b) == "" || getv(b) == 0) ? "–" : sprintf("%.1fx", getv(a) / getv(b)) }
END {
	split("96 128 384 768 1536", dims, " ")
	split("L2Sq Dot L2SqInt8 DotInt8 DotF32Int8", ks, " ")
	print "Pair kernels, ns/op (GB/s over both operands):"
	print ""
	print "| kernel | dim | generic | avx2 | avx512 | avx2 vs generic | avx512 vs generic |"
	print "|---|---|---|---|---|---|---|"
	for (k = 1; k <= 5; k++) for (d = 1; d <= 5; d++) {
		p = "Benchmark" ks[k] "/dim=" dims[d] "/impl="
		printf "| %s | %s | %s | %s | %s | %s | %s |\n", ks[k], dims[d], cell(p "generic"), cell(p "avx2"), cell(p "avx512"), ratio(p "generic", p "avx2"), ratio(p "generic", p "avx512")
	}
	print ""
	print "Exported L2Sq and Dot as callers see them (dispatch included; BenchmarkExported), ns/op:"
	print ""
	print "| kernel | dim | generic | avx2 | avx512 | avx2 vs generic | avx512 vs generic |"
	print "|---|---|---|---|---|---|---|"
	split("16 128 768", ed, " ")
	split("L2Sq Dot", ek, " ")
	for (k = 1; k <= 2; k++) for (d = 1; d <= 3; d++) {
		p = "BenchmarkExported/kernel=" ek[k] "/dim=" ed[d] "/impl="
		printf "| %s | %s | %s | %s | %s | %s | %s |\n", ek[k], ed[d], cell(p "generic"), cell(p "avx2"), cell(p "avx512"), ratio(p "generic", p "avx2"), ratio(p "generic", p "avx512")
	}
	print ""
	split("L2Sq64 Dot64 DotF32Int864 DotInt864", nk, " ")
	split("generic avx2 avx512", im, " ")
	split("hot cold", dt, " ")
	for (t = 1; t <= 2; t++) {
		if (dt[t] == "hot") print "Neighbour lists of 64 vectors, data=hot (the same 64 vectors every op, in cache), ns per vector:"
		else print "Neighbour lists of 64 vectors, data=cold (a new place in a 64 MiB arena every op), ns per vector:"
		print ""
		print "| kernel | dim | impl | batch | 64 single calls (contiguous) | gather | 64 single calls (same ids) |"
		print "|---|---|---|---|---|---|---|"
		for (k = 1; k <= 4; k++) for (d = 1; d <= 5; d++) for (m = 1; m <= 3; m++) {
			p = "Benchmark" nk[k] "/dim=" dims[d] "/impl=" im[m] "/form="
			sfx = "/data=" dt[t]
			if (getv(p "gather" sfx) == "") continue
			b = getv(p "batch" sfx); bs = getv(p "batch-singles" sfx)
			printf "| %s | %s | %s | %s | %s | %s | %s |\n", nk[k], dims[d], im[m], b == "" ? "–" : b, bs == "" ? "–" : bs, getv(p "gather" sfx), getv(p "gather-singles" sfx)
		}
		print ""
	}
	print "PQ ADC, ns per code (1024 codes a call):"
	print ""
	print "| kernel | M | generic | avx2 | avx512 |"
	print "|---|---|---|---|---|"
	split("8 16 32 64 96", m8, " ")
	for (m = 1; m <= 5; m++) { p = "BenchmarkADC8/m=" m8[m] "/impl="; printf "| ADC8 | %s | %s | %s | %s |\n", m8[m], getv(p "generic"), getv(p "avx2"), getv(p "avx512") }
	split("4 8 16", m16, " ")
	for (m = 1; m <= 3; m++) { p = "BenchmarkADC16/m=" m16[m] "/impl="; printf "| ADC16 | %s | %s | %s | %s |\n", m16[m], getv(p "generic"), getv(p "avx2"), getv(p "avx512") }
	print ""
	print "Small lengths (minAsmLen), ns/op:"
	print ""
	print "| kernel | dim | generic | avx2 | avx512 |"
	print "|---|---|---|---|---|"
	split("l2sq dot dotInt8", tk, " ")
	split("4 8 12 16 24 32 64", td, " ")
	for (k = 1; k <= 3; k++) for (d = 1; d <= 7; d++) {
		p = "BenchmarkThreshold/kernel=" tk[k] "/dim=" td[d] "/impl="
		printf "| %s | %s | %s | %s | %s |\n", tk[k], td[d], get(p "generic"), get(p "avx2"), get(p "avx512")
	}
	print ""
	print "Required figures:"
	print ""
	printf "- AVX2 squared L2, dim 768: %s faster than generic, %s through the exported L2Sq (required: at least 8x)\n", ratio("BenchmarkL2Sq/dim=768/impl=generic", "BenchmarkL2Sq/dim=768/impl=avx2"), ratio("BenchmarkExported/kernel=L2Sq/dim=768/impl=generic", "BenchmarkExported/kernel=L2Sq/dim=768/impl=avx2")
	printf "- AVX2 inner product, dim 768: %s faster than generic, %s through the exported Dot (required: at least 8x)\n", ratio("BenchmarkDot/dim=768/impl=generic", "BenchmarkDot/dim=768/impl=avx2"), ratio("BenchmarkExported/kernel=Dot/dim=768/impl=generic", "BenchmarkExported/kernel=Dot/dim=768/impl=avx2")
	printf "- AVX2 int8 dot vs AVX2 float32 inner product, dim 768: %s ns vs %s ns, %s (required: faster)\n", get("BenchmarkDotInt8/dim=768/impl=avx2"), get("BenchmarkDot/dim=768/impl=avx2"), ratio("BenchmarkDot/dim=768/impl=avx2", "BenchmarkDotInt8/dim=768/impl=avx2")
	for (d = 1; d <= 5; d++) for (m = 2; m <= 3; m++) {
		p = "BenchmarkL2Sq64/dim=" dims[d] "/impl=" im[m] "/form="
		q = "BenchmarkDot64/dim=" dims[d] "/impl=" im[m] "/form="
		printf "- %s dim %s, per vector vs single calls: batch (hot) L2Sq %s, Dot %s faster; gather (cold) L2Sq %s, Dot %s faster\n", im[m], dims[d], ratiov(p "batch-singles/data=hot", p "batch/data=hot"), ratiov(q "batch-singles/data=hot", q "batch/data=hot"), ratiov(p "gather-singles/data=cold", p "gather/data=cold"), ratiov(q "gather-singles/data=cold", q "gather/data=cold")
	}
}' "$raw"
