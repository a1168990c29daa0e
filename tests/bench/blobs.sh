#!/usr/bin/env bash
# blobs.sh K DIM ROWS-PER-CLASS SEED: a seeded K-class CSV on stdout, one
# Gaussian-ish blob per class.  The centres come from a fixed seed, so files
# made with different SEEDs (train, test) share them.
set -eu
awk -v K="$1" -v D="$2" -v R="$3" -v seed="$4" 'BEGIN {
	srand(95)
	for (c = 1; c <= K; c++) for (j = 1; j <= D; j++) m[c, j] = 10 * rand()
	srand(seed)
	for (j = 1; j <= D; j++) printf "f%d,", j
	print "label"
	for (r = 0; r < R; r++) for (c = 1; c <= K; c++) {
		for (j = 1; j <= D; j++)
			printf "%.4f,", m[c, j] + 4 * (rand() + rand() + rand() - 1.5)
		printf "c%03d\n", c
	}
}'
