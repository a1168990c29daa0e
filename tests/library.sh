#!/usr/bin/env bash
# library.sh -- the installed libraries as a program uses them: make install
# into a scratch prefix, then examples/predict.c built with pkg-config
# against libg2t-predict.so (which must not pull microhttpd, SQLite or curl)
# and against libg2t.so; both must print what g2t-predict prints.  Also the
# sonames and the versioned symbols.
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d "${TMPDIR:-/tmp}/g2t-lib.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() {
	echo "library.sh: $*" >&2
	exit 1
}

make -s WERROR=-Werror install PREFIX="$tmp/usr" >/dev/null
lib=$tmp/usr/lib
export PKG_CONFIG_PATH=$lib/pkgconfig
readelf -d "$lib/libg2t.so.1" | grep -q 'SONAME.*\[libg2t\.so\.1\]' || fail "libg2t.so.1: soname"
readelf -d "$lib/libg2t-predict.so.1" | grep -q 'SONAME.*\[libg2t-predict\.so\.1\]' ||
	fail "libg2t-predict.so.1: soname"
objdump -T "$lib/libg2t.so.1" | grep -q 'G2T_1 *g2t_model_load$' || fail "no g2t_model_load@G2T_1"
! objdump -T "$lib/libg2t.so.1" | awk '$2 == "g" && $NF !~ /^(g2t_|G2T_1)/' | grep -q . ||
	fail "libg2t.so.1 exports other names than g2t_*"

bin/g2t-split tests/data/iris.train.csv.gz | bin/g2t-train | bin/g2t-merge -o "$tmp/iris.model"
bin/g2t-predict "$tmp/iris.model" tests/data/iris.test.csv.gz >"$tmp/expected"
for pc in g2t-predict g2t; do
	# shellcheck disable=SC2046 # pkg-config's words are separate arguments
	cc -std=c11 -Wall -Wextra -Werror examples/predict.c $(pkg-config --cflags --libs "$pc") \
		-Wl,-rpath,"$lib" -o "$tmp/predict-$pc" || fail "examples/predict.c does not build with $pc"
	"$tmp/predict-$pc" "$tmp/iris.model" tests/data/iris.test.csv.gz >"$tmp/got-$pc" ||
		fail "predict ($pc) failed"
	cmp -s "$tmp/got-$pc" "$tmp/expected" || fail "predict ($pc) differs from g2t-predict"
done
! ldd "$tmp/predict-g2t-predict" | grep -Eq 'microhttpd|sqlite|curl' ||
	fail "a predict-only program pulls the server's libraries: $(ldd "$tmp/predict-g2t-predict")"
echo "library: installed libg2t.so.1 and libg2t-predict.so.1 link, predict, and export g2t_* only"
