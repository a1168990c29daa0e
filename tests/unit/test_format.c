/*
 * The checks of g2t(5), READER CHECKS, one at a time (issue 12), and the
 * computations the page states: numbers in text, the canonical class order.
 * tests/conformance.sh checks the same through the programs.
 */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "g2t.h"

static int is_decimal(const char *s)
{
	return g2t_is_decimal(s, strlen(s));
}

static int parses(const char *s, float want)
{
	float f;

	return g2t_parse_float(s, strlen(s), &f) == G2T_OK && f == want;
}

static int refused(const char *s)
{
	float f;

	return g2t_parse_float(s, strlen(s), &f) == G2T_EDATA;
}

static void test_numbers(void)
{
	CHECK(is_decimal("5") && is_decimal("-5") && is_decimal("+5") && is_decimal(".5") &&
	      is_decimal("1.") && is_decimal("1.5e-3") && is_decimal("2E+10"),
	      "decimals: sign, digits, fraction, exponent");
	CHECK(!is_decimal("") && !is_decimal(".") && !is_decimal("+") && !is_decimal("1e") &&
	      !is_decimal("e5") && !is_decimal(" 1") && !is_decimal("1 ") &&
	      !is_decimal("0x10") && !is_decimal("0x1p3") && !is_decimal("inf") &&
	      !is_decimal("nan") && !is_decimal("1,5") && !is_decimal("--1"),
	      "not decimals: empty, spaces, hexadecimal, inf, nan");
	CHECK(parses(" 1\t", 1.0f) && parses(".5", 0.5f) && parses("1.", 1.0f) &&
	      parses("+5", 5.0f) && parses("-0", -0.0f), "CSV numbers: spaces around ignored");
	CHECK(refused("0x10") && refused("inf") && refused("nan") && refused("") &&
	      refused("3.5e38") && refused("3.4028236e38") && refused("1 2"),
	      "CSV numbers: hexadecimal, inf, what binary32 rounds to infinity");
	CHECK(parses("3.4028235e38", FLT_MAX) && parses("-3.4028235e38", -FLT_MAX),
	      "CSV numbers: numpy's float32 max, above FLT_MAX in binary64, is FLT_MAX");
	/* just above the binary32 tie 1 + 2^-24: the nearest binary32 is
	 * 1 + 2^-23, but the nearest binary64 is the tie itself, which rounds
	 * to even, 1: two roundings, as g2t(5) says */
	CHECK(parses("1.00000005960464477539062500000001", 1.0f) &&
	      parses("1.0000000596046449", 1.00000011920928955f),
	      "CSV numbers: binary64 first, then binary32 (ties to even)");
}

static void test_class_order(void)
{
	CHECK(g2t_class_is_number("9") && !g2t_class_is_number("0x10") &&
	      !g2t_class_is_number(" 1") && g2t_class_is_number("1e39") &&
	      !g2t_class_is_number("1e400"), "class names that are numbers");
	CHECK(g2t_class_cmp("5", "1e39", 1) < 0 && g2t_class_cmp("10", "9", 1) > 0 &&
	      g2t_class_cmp("1.0", "1", 1) > 0 && g2t_class_cmp("-0", "0", 1) < 0,
	      "numeric order: by binary64 value, equal values in byte order");
	CHECK(g2t_class_cmp("0x10", "9", 0) < 0 && g2t_class_cmp("a", "ab", 0) < 0 &&
	      g2t_class_cmp("B", "a", 0) < 0, "byte order: a proper prefix first");
}

/* A SCHEMA of features x and y and classes a and b, of 2 rows each. */
static struct g2t_schema *two_classes(void)
{
	struct g2t_schema *s = g2t_schema_new(2, 2);

	s->label = strdup("label");
	s->feature[0] = strdup("x");
	s->feature[1] = strdup("y");
	s->klass[0] = strdup("a");
	s->klass[1] = strdup("b");
	s->rows[0] = s->rows[1] = 2;
	return s;
}

/* A SCHEMA of two classes as g2t-split writes it, changed by `change`. */
static int schema_with(void (*change)(struct g2t_schema *), char *why, size_t cap)
{
	struct g2t_schema *s = two_classes(), *back = NULL;
	struct g2t_diag d = { 0, -1, "" };
	int rc;

	if (change)
		change(s);
	g2t_schema_encode(s);
	rc = g2t_schema_read(&back, s->payload, s->length, &d);
	snprintf(why, cap, "%s", d.what);
	g2t_schema_free(s);
	g2t_schema_free(back);
	return rc;
}

/* A wide SCHEMA's binary64 offsets come back with every bit, and its
 * binary32 offsets are them rounded. */
static int wide_round_trip(void)
{
	struct g2t_schema *s = two_classes(), *back = NULL;
	struct g2t_diag d = { 0, -1, "" };
	int ok;

	s->flags = G2T_SCHEMA_WIDE;
	s->wide = calloc(2, sizeof *s->wide);
	s->wide[0] = 1700000040.5;
	s->wide[1] = -0.1;
	g2t_schema_encode(s);
	ok = s->length == 12 + 9 + 2 * 5 + 2 * 12 + 2 * 41 &&
	     g2t_schema_read(&back, s->payload, s->length, &d) == G2T_OK && back->wide &&
	     back->wide[0] == 1700000040.5 && back->wide[1] == -0.1 &&
	     back->offset[0] == (float)1700000040.5 && back->offset[1] == (float)-0.1;
	g2t_schema_free(s);
	g2t_schema_free(back);
	return ok;
}

static void flag_bit(struct g2t_schema *s) { s->flags = 64; }
static void flag_wide_sparse(struct g2t_schema *s) { s->flags = G2T_SCHEMA_WIDE | G2T_SCHEMA_SPARSE; }
static void flag_numeric(struct g2t_schema *s) { s->flags = G2T_SCHEMA_NUMERIC; }
static void numbers(struct g2t_schema *s)
{
	strcpy(s->klass[0], "1");
	strcpy(s->klass[1], "2");
}
static void numbers_flagged(struct g2t_schema *s)
{
	numbers(s);
	s->flags = G2T_SCHEMA_NUMERIC;
}
static void swapped(struct g2t_schema *s)
{
	strcpy(s->klass[0], "b");
	strcpy(s->klass[1], "a");
}
static void twice(struct g2t_schema *s) { strcpy(s->feature[1], "x"); }
static void no_rows(struct g2t_schema *s) { s->rows[1] = 0; }

/* The task form of a sparse SCHEMA: the schema id kept, no scaling, and
 * every byte needed. */
static void test_task_form(void)
{
	struct g2t_schema *s = g2t_schema_new(16, 2), *back = NULL;
	struct g2t_diag d = { 0, -1, "" };
	uint8_t *p = NULL;
	uint32_t len = 0, i;
	int ok = 1;

	s->flags = G2T_SCHEMA_SPARSE | G2T_SCHEMA_INDEXED;
	s->label = strdup("label");
	for (i = 0; i < 16; i++) {
		char name[8];

		snprintf(name, sizeof name, "f%u", i + 1);
		s->feature[i] = strdup(name);
		s->scale[i] = 0.5f;
	}
	s->klass[0] = strdup("a");
	s->klass[1] = strdup("b");
	s->rows[0] = s->rows[1] = 2;
	g2t_schema_encode(s);
	ok = !g2t_schema_task_form(s, &p, &len);
	CHECK(ok && len == 12 + 9 + 32 + 2 * 41 && s->length == len - 32 + 16 * 4,
	      "SCHEMA task form: 12 + label + id + classes, not 4 bytes a feature");
	CHECK(ok && !g2t_schema_read(&back, p, len, &d) && back->flags == (s->flags | 8u) &&
	      !memcmp(back->id, s->id, G2T_HASH_SIZE) && back->scale[15] == 0.0f &&
	      back->rows[1] == 2 && !memcmp(back->shard_hash[1], s->shard_hash[1], 32),
	      "SCHEMA task form: read back, the schema id its own, no scaling");
	g2t_schema_free(back);
	back = NULL;
	for (i = 0; ok && i < len; i++)
		if (g2t_schema_read(&back, p, i, &d) != G2T_EFORMAT) {
			g2t_schema_free(back);
			back = NULL;
			ok = 0;
		}
	CHECK(ok, "SCHEMA task form: every shorter payload refused");
	free(p);
	g2t_schema_free(s);
}

static void test_schema(void)
{
	char why[240];

	CHECK(schema_with(NULL, why, sizeof why) == G2T_OK, "SCHEMA: the good one is read");
	CHECK(schema_with(numbers_flagged, why, sizeof why) == G2T_OK,
	      "SCHEMA: numbers, flagged, are read");
	CHECK(schema_with(flag_bit, why, sizeof why) == G2T_EFORMAT &&
	      strstr(why, "a bit other than bits 0 to 5"), "SCHEMA: flags bit 6 refused");
	CHECK(wide_round_trip(), "SCHEMA: a wide one's binary64 offsets, 12 bytes a feature, "
	      "read back bit for bit");
	CHECK(schema_with(flag_wide_sparse, why, sizeof why) == G2T_EFORMAT &&
	      strstr(why, "bits 5 (wide) and 1 (sparse)"), "SCHEMA: wide and sparse refused");
	CHECK(schema_with(flag_numeric, why, sizeof why) == G2T_EFORMAT &&
	      strstr(why, "flags bit 0 is set"), "SCHEMA: numeric flag on names refused");
	CHECK(schema_with(numbers, why, sizeof why) == G2T_EFORMAT &&
	      strstr(why, "flags bit 0 is clear"), "SCHEMA: numbers without the flag refused");
	CHECK(schema_with(swapped, why, sizeof why) == G2T_EFORMAT &&
	      strstr(why, "canonical order"), "SCHEMA: classes out of order refused");
	CHECK(schema_with(twice, why, sizeof why) == G2T_EFORMAT &&
	      strstr(why, "feature 'x' appears twice"), "SCHEMA: a feature name twice refused");
	CHECK(schema_with(no_rows, why, sizeof why) == G2T_EFORMAT &&
	      strstr(why, "class 'b' has no rows"), "SCHEMA: a class of 0 rows refused");
	test_task_form();
}

static void test_framing(void)
{
	uint8_t s[8 + 13], buf[16];
	struct g2t_decoder d;
	size_t used;
	int ev;

	g2t_stream_header(s);
	g2t_record_frame(s + 8, s + 17, 0xff, s + 16, 1, g2t_crc32);
	g2t_decoder_init(&d, buf, sizeof buf, g2t_crc32);
	CHECK(g2t_decoder_push(&d, s, sizeof s, &used, &ev) == G2T_EV_RECORD && d.type == 0xff,
	      "type 0xff: a record, for the reader to skip");
	g2t_record_frame(s + 8, s + 17, G2T_TYPE_LIMIT, s + 16, 1, g2t_crc32);
	g2t_decoder_init(&d, buf, sizeof buf, g2t_crc32);
	CHECK(g2t_decoder_push(&d, s, sizeof s, &used, &ev) == G2T_EFORMAT && d.pos == 8,
	      "type 0x100: refused at the record header");
}

static void test_shard(void)
{
	struct g2t_shard h = { 0, 1, 1, G2T_ENC_F32, 0.0f, 0.0f }, back;
	uint8_t p[G2T_SHARD_HEADER_SIZE + 4] = { 0 };

	g2t_shard_header_encode(p, sizeof p, &h);
	CHECK(g2t_shard_header_decode(&back, p, sizeof p) == G2T_OK, "float32 SHARD: lo, step 0");
	h.lo = -0.0f;
	g2t_shard_header_encode(p, sizeof p, &h);
	CHECK(g2t_shard_header_decode(&back, p, sizeof p) == G2T_EFORMAT,
	      "float32 SHARD: lo -0 refused");
	h.lo = 0.0f;
	h.step = 1.0f;
	g2t_shard_header_encode(p, sizeof p, &h);
	CHECK(g2t_shard_header_decode(&back, p, sizeof p) == G2T_EFORMAT,
	      "float32 SHARD: step 1 refused");
}

int main(void)
{
	test_numbers();
	test_class_order();
	test_schema();
	test_framing();
	test_shard();
	return check_done();
}
