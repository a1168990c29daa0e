#!/usr/bin/env bash
# shapes.sh SHAPE SEED [SCALE]: a seeded CSV (header, label last) on stdout,
# of one of the shapes a linear classifier meets badly.  SCALE (default 1)
# multiplies the rows, for `make bench`'s full-size runs.
#   imbalanced  7 classes, 9 features, 5000 rows: 78 % one class, the
#               smallest 6 rows (the 46k-row set, scaled down)
#   many        95 classes of 60 rows, 40 overlapping features
#   scales      5 classes, 12 features from 1e-6 to 1e6 in size
#   duplicates  4 classes, every row written three times
#   constant    4 classes, 10 features of which 4 are constant
#   separable   6 classes, linearly separable with a margin
#   year        3 classes of 300 rows, 12 one-hot columns (mostly 0), a year
#               from about 1990 to 2035, never 0: scaled as a sparse set by
#               1 / its largest value, it would fill only [0.98,1]
#   timestamps  3 classes of 300 rows, 3 overlapping features and a Unix
#               time near 1.7e9, the classes 40 s apart, which binary32
#               holds to 128 s only
set -eu
shape=$1 seed=$2 scale=${3:-1}
awk -v shape="$shape" -v seed="$seed" -v S="$scale" '
function noise() { return rand() + rand() + rand() - 1.5 }
# K classes with rows n[c], D features around centres m[c, j] (spread sd),
# feature j times mul[j]; dup copies of each row; const[j] fixed columns
function emit(K, D, sd, dup,   c, r, j, k, line) {
	for (j = 1; j <= D; j++) printf "f%d,", j
	print "label"
	for (r = 0; ; r++) {
		left = 0
		for (c = 1; c <= K; c++) {
			if (r >= n[c]) continue
			left = 1
			line = ""
			for (j = 1; j <= D; j++) {
				v = (j in fixed) ? fixed[j] : (m[c, j] + sd * noise()) * mul[j]
				line = line sprintf("%.6g,", v)
			}
			for (k = 0; k < dup; k++) print line sprintf("k%02d", c)
		}
		if (!left) break
	}
}
BEGIN {
	srand(77)
	for (c = 1; c <= 95; c++) for (j = 1; j <= 40; j++) m[c, j] = 10 * rand()
	for (j = 1; j <= 40; j++) mul[j] = 1
	srand(seed)
	if (shape == "imbalanced") {
		split("3900 600 300 120 50 24 6", p, " ")
		for (c = 1; c <= 7; c++) n[c] = int(p[c] * S)
		emit(7, 9, 6, 1)
	} else if (shape == "many") {
		for (c = 1; c <= 95; c++) n[c] = int(60 * S)
		emit(95, 40, 9, 1)
	} else if (shape == "scales") {
		for (j = 1; j <= 12; j++) mul[j] = 10 ^ (j - 7)
		for (c = 1; c <= 5; c++) n[c] = int(150 * S)
		emit(5, 12, 5, 1)
	} else if (shape == "duplicates") {
		for (c = 1; c <= 4; c++) n[c] = int(100 * S)
		emit(4, 8, 5, 3)
	} else if (shape == "constant") {
		fixed[2] = 3; fixed[5] = 0; fixed[6] = -1; fixed[9] = 7
		for (c = 1; c <= 4; c++) n[c] = int(150 * S)
		emit(4, 10, 5, 1)
	} else if (shape == "separable") {
		for (c = 1; c <= 6; c++) n[c] = int(100 * S)
		emit(6, 8, 1, 1)
	} else if (shape == "year") {
		for (j = 1; j <= 12; j++) printf "c%d,", j
		print "year,label"
		for (c = 1; c <= 3; c++) for (k = 1; k <= 12; k++) pref[c, k] = rand() ^ 3
		for (r = 0; r < int(900 * S); r++) {
			c = r % 3 + 1
			for (k = 1; k <= 12; k++) tot += pref[c, k]
			u = rand() * tot; tot = 0
			for (k = 1; k < 12 && (u -= pref[c, k]) > 0; k++) ;
			for (j = 1; j <= 12; j++) printf "%d,", j == k
			printf "%d,y%d\n", 1995 + 8 * c + int(10 * noise()), c
		}
	} else if (shape == "timestamps") {
		print "t,f1,f2,f3,label"
		for (r = 0; r < int(900 * S); r++) {
			c = r % 3 + 1
			printf "%d,", 1700000000 + 40 * c + int(30 * rand())
			for (j = 1; j <= 3; j++) printf "%.4g,", m[c, j] + 9 * noise()
			printf "t%d\n", c
		}
	} else {
		print "shapes.sh: unknown shape " shape > "/dev/stderr"
		exit 2
	}
}'
