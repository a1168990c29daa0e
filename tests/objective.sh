#!/bin/bash
# objective.sh [--ovr] CSV LOSS [C [CLASS=W ...]] -- the exact solver's certificate
# against LIBLINEAR: every task of CSV (header, label last) trained by
# g2t-split --algo dcd --loss LOSS --cost C [-w CLASS=W ...] |
# g2t-train --stats, and by liblinear-train on the same rows (scaled to
# [0,1] with the file's min and max, as g2t-split does) with the same loss,
# C, class weights (-w1, -w-1), -B 1 and -e 1e-6.  The
# primal objective g2t reports must be within 0.1 % of LIBLINEAR's, computed
# here from its model file, and g2t's own gap must be at most 0.1 %.  Where
# LIBLINEAR stops at its iteration cap short of that tolerance (its primal
# and the dual objective it prints more than 0.1 % apart), g2t's primal
# must lie in that bracket of the optimum, widened by 0.1 %.
# --ovr: one-vs-rest tasks (g2t-split --ovr), each against LIBLINEAR on its
# class (+1) and every other class's rows (-1, weight 1).
# Prints one summary line; exits 1 when a task misses.
set -eu
export LC_ALL=C
ovr=()
[ "$1" = --ovr ] && { ovr=(--ovr); shift; }
csv=$1 loss=$2 cost=${3:-1}
shift $(($# < 3 ? $# : 3))
weights=("$@")
wopts=()
for w in "${weights[@]}"; do wopts+=(-w "$w"); done
bin=${G2T_BIN:-bin}
case $loss in
hinge) solver=3 ;;
sqhinge) solver=1 ;;
logistic) solver=7 ;;
*) echo "objective.sh: unknown loss '$loss'" >&2; exit 2 ;;
esac
work=$(mktemp -d "${TMPDIR:-/tmp}/g2t-objective.XXXXXX")
trap 'rm -rf "$work"' EXIT

gzip -dcf "$csv" >"$work/data.csv"
"$bin/g2t-split" "${ovr[@]}" --algo dcd --loss "$loss" --cost "$cost" "${wopts[@]}" "$work/data.csv" |
	"$bin/g2t-train" -j2 --stats >/dev/null 2>"$work/stats"

# one file of scaled rows, svmlight without the label, per class (numbered
# in order of appearance: names may not be file names)
awk -F, -v dir="$work" '
NR == FNR { if (FNR > 1) for (i = 1; i < NF; i++) {
		v = $i + 0
		if (FNR == 2 || v < lo[i]) lo[i] = v
		if (FNR == 2 || v > hi[i]) hi[i] = v
	}
	next }
FNR == 1 { next }
{
	if (!($NF in id)) { id[$NF] = ++k; print $NF "\t" k > (dir "/classes") }
	line = ""
	for (i = 1; i < NF; i++) {
		r = hi[i] - lo[i]
		if (r > 0 && (s = ($i - lo[i]) / r) != 0) line = line " " i ":" sprintf("%.9g", s)
	}
	print line > (dir "/class" id[$NF])
}' "$work/data.csv" "$work/data.csv"

# primal objective of a LIBLINEAR model (with -B 1) on a data file
primal='
FNR == NR { if ($1 == "label") pos = $2
	else if (w_at) w[++nw] = $1
	else if ($1 == "w") w_at = 1
	next }
{
	y = $1 == pos ? 1 : -1
	z = w[nw]	# the bias weight, for the constant feature 1
	for (i = 2; i <= NF; i++) { split($i, f, ":"); z += w[f[1]] * f[2] }
	z *= y
	if (loss == "logistic") l = z > 0 ? log(1 + exp(-z)) : log(1 + exp(z)) - z
	else { l = z < 1 ? 1 - z : 0; if (loss == "sqhinge") l *= l }
	sum += (y > 0 ? wa : wb) * l
}
END {
	for (i = 1; i <= nw; i++) ww += w[i] * w[i]
	printf "%.9g\n", 0.5 * ww + c * sum
}'

# the weight given to class $1, or 1
weight_of() {
	local w
	for w in "${weights[@]}"; do
		[ "${w%=*}" = "$1" ] && { echo "${w##*=}"; return; }
	done
	echo 1
}

worst=0 bad=0 tasks=0 maxgap=0 capped_n=0
while IFS=$'\t' read -r task a b rows passes p_g2t dual gap _; do
	[ "$task" = task ] && continue
	ia=$(awk -F'\t' -v n="$a" '$1 == n { print $2 }' "$work/classes")
	if [ ${#ovr[@]} = 1 ]; then
		sed 's/^/1/' "$work/class$ia" >"$work/pair"
		for f in "$work"/class[0-9]*; do
			[ "$f" = "$work/class$ia" ] || sed 's/^/-1/' "$f"
		done >>"$work/pair"
		wa=$(weight_of "$a") wb=1
	else
		ib=$(awk -F'\t' -v n="$b" '$1 == n { print $2 }' "$work/classes")
		{ sed 's/^/1/' "$work/class$ia"; sed 's/^/-1/' "$work/class$ib"; } >"$work/pair"
		wa=$(weight_of "$a") wb=$(weight_of "$b")
	fi
	# LIBLINEAR prints its dual objective, as the value of a minimisation
	d_ll=$(liblinear-train -s "$solver" -c "$cost" -w1 "$wa" -w-1 "$wb" -e 1e-6 -B 1 \
		"$work/pair" "$work/model" | awk '$1 == "Objective" { print -$4 }')
	p_ll=$(awk -v loss="$loss" -v c="$cost" -v wa="$wa" -v wb="$wb" "$primal" \
		"$work/model" "$work/pair")
	read -r rel ok capped < <(awk -v g="$p_g2t" -v l="$p_ll" -v d="$d_ll" -v gap="$gap" 'BEGIN {
		r = (g - l) / l; if (r < 0) r = -r
		capped = (l - d) / l > 1e-3
		ok = gap <= 1e-3 && gap >= -1e-3 &&
		     (capped ? g <= l * 1.001 && g >= d * 0.999 : r <= 1e-3)
		print r, ok, capped }')
	tasks=$((tasks + 1))
	[ "$capped" = 1 ] && capped_n=$((capped_n + 1))
	if [ "$ok" != 1 ]; then
		bad=$((bad + 1))
		echo "task $task ($a/$b, $rows rows, $passes passes): g2t primal $p_g2t gap $gap; liblinear primal $p_ll dual $d_ll"
	fi
	[ "$capped" = 1 ] || worst=$(awk -v a="$worst" -v b="$rel" 'BEGIN { print (b > a ? b : a) }')
	maxgap=$(awk -v a="$maxgap" -v b="$gap" 'BEGIN { print (b > a ? b : a) }')
done <"$work/stats"
echo "$(basename "$csv")${ovr[*]:+ one-vs-rest} $loss C=$cost${weights[*]:+ weights ${weights[*]}}: $tasks tasks, largest |primal - liblinear's| / liblinear's $worst where liblinear converged, largest gap $maxgap ($capped_n where liblinear stopped short of its tolerance), $bad over 0.1 %"
[ "$tasks" -gt 0 ] && [ "$bad" -eq 0 ]
