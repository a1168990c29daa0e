# csv2svm.awk -- CSV (header, label last) to svmlight for LIBSVM and
# LIBLINEAR: features scaled to [0,1] with the min and max of the first
# file, as g2t-split scales them; classes numbered 1..K in order of first
# appearance in it.  The first file is read twice (statistics, then rows):
#   awk -f csv2svm.awk -v out1=TRAIN.svm -v out2=TEST.svm TRAIN.csv TRAIN.csv TEST.csv
# Optional: labels=FILE gets "name number" a class; raw1/raw2 get the rows
# unscaled, labelled by name, zeros left out (g2t's svmlight input).
BEGIN { FS = "," }
FNR == 1 { pass++; if (pass == 1) nf = NF; next }
pass == 1 {
	for (i = 1; i < nf; i++) {
		v = $i + 0
		if (FNR == 2 || v < lo[i]) lo[i] = v
		if (FNR == 2 || v > hi[i]) hi[i] = v
	}
	next
}
{
	if (NF != nf) {
		printf "csv2svm: %s:%d: %d fields, expected %d\n", FILENAME, FNR, NF, nf > "/dev/stderr"
		exit 1
	}
	if (!($nf in cls)) {
		cls[$nf] = ++k
		if (labels != "") print $nf, k > labels
	}
	line = cls[$nf]
	raw = $nf
	for (i = 1; i < nf; i++) {
		r = hi[i] - lo[i]
		if (r > 0 && (s = ($i - lo[i]) / r) != 0) line = line " " i ":" sprintf("%.6g", s)
		if (raw1 != "" && $i + 0 != 0) raw = raw " " i ":" $i
	}
	print line > (pass == 2 ? out1 : out2)
	if (raw1 != "") print raw > (pass == 2 ? raw1 : raw2)
}
