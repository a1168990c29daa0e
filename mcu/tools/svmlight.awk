# svmlight.awk - the firmware's sparse task set (mcu.mk) from a CSV with a
# header row and the label last: feature i becomes feature i * spread (4),
# the others 0, so that rows are mostly 0; as svmlight (its zeros left out
# but the last feature's, which fixes the count), or with -v csv=1 as CSV.
BEGIN {
	if (!spread)
		spread = 4
}
NR == 1 && csv {
	for (i = 1; i < NF * spread - spread + 1; i++)
		printf "f%d,", i
	print "label"
}
NR > 1 && csv {
	s = ""
	for (i = 1; i < NF; i++) {
		for (z = 1; z < spread; z++)
			s = s "0,"
		s = s $i ","
	}
	print s $NF
}
NR > 1 && !csv {
	s = $NF
	for (i = 1; i < NF; i++)
		if ($i != 0 || i == NF - 1)
			s = s " " i * spread ":" $i
	print s
}
