/* Text data: CSV (RFC 4180) and svmlight, gzip or plain, row by row. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "g2t.h"

#define TEXT_BUF (1u << 18)
#define RECORD_LIMIT (64u << 20) /* one CSV record */
#define FIELD_LIMIT (1u << 24)

struct g2t_text {
	gzFile gz;
	int format;
	char delim;
	char *buf;                 /* decompressed input */
	size_t at, have;
	int eof, pending;          /* pending: the record in rec is unread data */
	char *rec;                 /* current record, fields split in place */
	size_t len, cap;
	long line, next_line;      /* first line of rec; line after it */
	char **fld;                /* fields of rec */
	size_t nfld, fldcap;
	uint32_t columns;          /* CSV: header fields */
	long label_col;            /* -1: none */
	char **names;              /* feature column names */
	uint8_t *ignore;           /* per feature column: not read, value 0 */
	double *value64;           /* opts.wide: the values in binary64 too */
	int wide;
	char *label_name;
	float *value;
	uint32_t *index;
	size_t valcap;
	long long size;            /* bytes of the file, 0 when not known */
};

static const double pow10[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

static size_t digits(const char *s, size_t n, size_t *i)
{
	size_t from = *i;

	while (*i < n && s[*i] >= '0' && s[*i] <= '9')
		++*i;
	return *i - from;
}

int g2t_is_decimal(const char *s, size_t n)
{
	size_t i = n && (*s == '+' || *s == '-'), k = digits(s, n, &i);

	if (i < n && s[i] == '.') {
		i++;
		k += digits(s, n, &i);
	}
	if (k && i < n && (s[i] == 'e' || s[i] == 'E')) {
		i += 1 + (i + 1 < n && (s[i + 1] == '+' || s[i + 1] == '-'));
		k = digits(s, n, &i);
	}
	return k && i == n;
}

/* The decimal s[0..n) rounded to binary64, refused when binary32 would
 * round it to infinity: from halfway between FLT_MAX and 2^128 up. */
static int parse_double(const char *s, size_t n, double *out)
{
	uint64_t m = 0;
	size_t i = 0, digits = 0, frac = 0;
	int neg = 0, dot = 0;
	double v;
	char tmp[128], *end;

	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n && (*s == '-' || *s == '+'))
		neg = *s == '-', i++;
	/* exact fast path: m / 10^frac is one correctly rounded division */
	for (; i < n; i++) {
		if (s[i] >= '0' && s[i] <= '9') {
			m = m * 10 + (uint64_t)(s[i] - '0');
			digits++;
			frac += dot;
		} else if (s[i] == '.' && !dot) {
			dot = 1;
		} else {
			break;
		}
	}
	if (i == n && digits && digits <= 15 && frac <= 22) {
		v = (double)m / pow10[frac];
		*out = neg ? -v : v;
		return G2T_OK;
	}
	if (n == 0 || n >= sizeof tmp || !g2t_is_decimal(s, n))
		return G2T_EDATA;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	errno = 0;
	v = strtod(tmp, &end);
	if (end != tmp + n || !isfinite(v) || fabs(v) >= 0x1.ffffffp127)
		return G2T_EDATA;
	*out = v;
	return G2T_OK;
}

int g2t_parse_float(const char *s, size_t n, float *out)
{
	double v;

	if (parse_double(s, n, &v))
		return G2T_EDATA;
	*out = (float)v;
	return G2T_OK;
}

/*
 * gzread() hands out what a cut gzip member inflates to and then reports a
 * plain end, with Z_BUF_ERROR left in gzerror(): the end is checked here, so
 * that a truncated file (or one without its CRC and length trailer) is an
 * error and not silently fewer rows.  Concatenated members are read on.
 */
static int refill(struct g2t_text *t, struct g2t_diag *d)
{
	int n = gzread(t->gz, t->buf, TEXT_BUF), err = Z_OK;
	const char *msg = n <= 0 ? gzerror(t->gz, &err) : NULL;

	if (n < 0 && err == Z_ERRNO)
		return g2t_fail(d, G2T_EIO, 0, -1, "%s", strerror(errno));
	if (n < 0) /* msg is "path: what" */
		return g2t_fail(d, G2T_EDATA, 0, -1, "gzip data is corrupt: %s",
		                strrchr(msg, ':') ? strrchr(msg, ':') + 2 : msg);
	if (n == 0 && err == Z_BUF_ERROR)
		return g2t_fail(d, G2T_EDATA, 0, -1,
		                "gzip data is truncated (it ends before the end of "
		                "its stream and its CRC-32 and length trailer)");
	t->at = 0;
	t->have = (size_t)n;
	t->eof = n == 0;
	return G2T_OK;
}

/* Reads the next non-empty record into t->rec; 1, 0 at the end, or < 0. */
static int read_record(struct g2t_text *t, struct g2t_diag *d)
{
	int quoted = 0, rc;

	for (;;) {
		t->len = 0;
		t->line = t->next_line;
		for (;;) {
			char c;

			if (t->at == t->have) {
				if ((rc = refill(t, d)))
					return rc;
				if (t->eof)
					break;
			}
			c = t->buf[t->at++];
			/* fields are C strings: a NUL would cut one short unseen */
			if (c == '\0')
				return g2t_fail(d, G2T_EDATA, t->next_line, -1,
				                "a NUL byte: binary data, not text");
			if (c == '\n')
				t->next_line++;
			if (c == '"' && t->format == G2T_TEXT_CSV)
				quoted = !quoted;
			else if (c == '\n' && !quoted)
				break;
			if (t->len + 1 >= t->cap &&
			    (rc = g2t_grow((void **)&t->rec, &t->cap, t->len + 2, 1)))
				return rc;
			if (t->len >= RECORD_LIMIT)
				return g2t_fail(d, G2T_EDATA, t->line, -1, "record too long");
			t->rec[t->len++] = c;
		}
		if (quoted)
			return g2t_fail(d, G2T_EDATA, t->line, -1, "unterminated quoted field");
		if (t->len && t->rec[t->len - 1] == '\r')
			t->len--;
		if (t->len) {
			t->rec[t->len] = '\0';
			return 1;
		}
		if (t->eof)
			return 0;
	}
}

static int add_field(struct g2t_text *t, char *f)
{
	int rc;

	if (t->nfld == t->fldcap &&
	    (rc = g2t_grow((void **)&t->fld, &t->fldcap, t->nfld + 1, sizeof *t->fld)))
		return rc;
	if (t->nfld >= FIELD_LIMIT)
		return G2T_EDATA;
	t->fld[t->nfld++] = f;
	return G2T_OK;
}

/* Splits rec into NUL-terminated, unquoted fields, in place. */
static int split_csv(struct g2t_text *t, struct g2t_diag *d)
{
	char *r = t->rec, *w = t->rec, *end = t->rec + t->len;

	t->nfld = 0;
	for (;;) {
		char *start = w;

		if (r < end && *r == '"') {
			for (r++;; r++) {
				if (*r == '"' && r[1] == '"')
					*w++ = *r++;
				else if (*r == '"')
					break;
				else
					*w++ = *r;
			}
			r++;
			if (r < end && *r != t->delim)
				return g2t_fail(d, G2T_EDATA, t->line, -1,
				                "field %zu: text after a closing quote", t->nfld + 1);
		} else {
			while (r < end && *r != t->delim) {
				if (*r == '"')
					return g2t_fail(d, G2T_EDATA, t->line, -1,
					                "field %zu: quote inside an unquoted field",
					                t->nfld + 1);
				*w++ = *r++;
			}
		}
		if (add_field(t, start))
			return g2t_fail(d, G2T_EDATA, t->line, -1, "too many fields");
		if (r >= end) {
			*w = '\0';
			return G2T_OK;
		}
		*w++ = '\0';
		r++;
	}
}

static int is_number(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

static int looks_svmlight(const char *rec)
{
	const char *p = strpbrk(rec, " \t");

	if (!p)
		return 0;
	p += strspn(p, " \t");
	if (!strncmp(p, "qid:", 4)) { /* a ranking set's query id, skipped by rows too */
		p += strcspn(p, " \t");
		p += strspn(p, " \t");
	}
	if (*p < '0' || *p > '9')
		return 0;
	p += strspn(p, "0123456789");
	return *p == ':';
}

/* An svmlight line that holds no row: blanks, or a comment from its start
 * (as svm_light and scikit-learn's dump_svmlight_file write). */
static int svm_blank(const char *rec)
{
	rec += strspn(rec, " \t");
	return !*rec || *rec == '#';
}

/* Whether the first line after the comment lines that start the input looks
 * like svmlight; looked for in the bytes already read, not consumed. */
static int looks_svmlight_after_comments(const struct g2t_text *t)
{
	char line[512];
	size_t at = t->at, n;

	while (at < t->have) {
		const char *nl = memchr(t->buf + at, '\n', t->have - at);
		size_t end = nl ? (size_t)(nl - t->buf) : t->have;

		n = end - at < sizeof line ? end - at : sizeof line - 1;
		memcpy(line, t->buf + at, n);
		line[n] = '\0';
		line[strcspn(line, "\r")] = '\0';
		if (!svm_blank(line))
			return looks_svmlight(line);
		at = end + 1;
	}
	return 0;
}

/* Why a header may lack the column asked for: the common mistakes. */
static const char *header_hint(const struct g2t_text *t)
{
	size_t numbers = 0;

	if (t->nfld == 1 && strchr(t->fld[0], ';'))
		return " (the header holds ';': for a ;-separated file, --delimiter ';')";
	if (t->nfld == 1 && strchr(t->fld[0], ':') && strpbrk(t->fld[0], " \t"))
		return " (the first line looks like svmlight, but not its second token: "
		       "--format svmlight to read it as svmlight)";
	if (t->nfld == 1 && strchr(t->fld[0], '\t'))
		return " (the header holds tabs: for a tab-separated file, --delimiter tab)";
	for (size_t i = 0; i < t->nfld; i++) {
		char *end;

		strtod(t->fld[i], &end);
		numbers += *t->fld[i] && !*end;
	}
	if (t->nfld > 1 && numbers + 1 >= t->nfld) /* all numbers but a label, maybe */
		return " (the first line holds numbers: the file seems to have no header "
		       "row; add the training file's header line)";
	return "";
}

/* Picks the label column of a CSV header. */
static int find_label(struct g2t_text *t, const struct g2t_text_opts *o,
                      struct g2t_diag *d)
{
	const char *want = o->label;

	t->label_col = (long)t->nfld - 1;
	if (!want)
		return G2T_OK;
	for (size_t i = 0; i < t->nfld; i++)
		if (!strcmp(t->fld[i], want))
			return t->label_col = (long)i, G2T_OK;
	if (is_number(want)) {
		unsigned long k = strtoul(want, NULL, 10);

		if (k >= 1 && k <= t->nfld)
			return t->label_col = (long)k - 1, G2T_OK;
		return g2t_fail(d, G2T_EDATA, t->line, -1,
		                "label column %s does not exist (%zu columns)", want, t->nfld);
	}
	if (o->label_optional)
		return t->label_col = -1, G2T_OK;
	return g2t_fail(d, G2T_EDATA, t->line, -1, "no column named '%s'%s", want,
	                header_hint(t));
}

static int read_header(struct g2t_text *t, const struct g2t_text_opts *o,
                       struct g2t_diag *d)
{
	size_t i, k = 0;
	long dup;
	int rc;

	if ((rc = split_csv(t, d)) || (rc = find_label(t, o, d)))
		return rc;
	dup = g2t_duplicate_name((const char *const *)t->fld, t->nfld);
	if (dup >= 0)
		return g2t_fail(d, G2T_EDATA, t->line, -1, "column name '%s' appears twice",
		                t->fld[dup]);
	if (t->nfld - (t->label_col >= 0) > G2T_FEATURE_LIMIT)
		return g2t_fail(d, G2T_EDATA, t->line, -1,
		                "%zu feature columns exceed the limit %u",
		                t->nfld - (t->label_col >= 0), G2T_FEATURE_LIMIT);
	for (i = 0; i < t->nfld; i++)
		if (strlen(t->fld[i]) > G2T_NAME_LIMIT)
			return g2t_fail(d, G2T_EDATA, t->line, -1,
			                "column %zu: a name of %zu bytes exceeds the limit %u",
			                i + 1, strlen(t->fld[i]), G2T_NAME_LIMIT);
	t->columns = (uint32_t)t->nfld;
	t->names = calloc(t->nfld, sizeof *t->names);
	if (!t->names || t->nfld < (t->label_col >= 0 ? 2u : 1u))
		return t->names ? g2t_fail(d, G2T_EDATA, t->line, -1, "no feature columns%s",
		                           header_hint(t))
		                : G2T_ENOMEM;
	for (i = 0; i < t->nfld; i++) {
		char *copy = strdup(t->fld[i]);

		if (!copy)
			return G2T_ENOMEM;
		if ((long)i == t->label_col)
			t->label_name = copy;
		else
			t->names[k++] = copy;
	}
	return G2T_OK;
}

void g2t_text_position(const struct g2t_text *t, long long *read, long long *size)
{
	long long at = (long long)gzoffset(t->gz);

	*read = at < 0 ? 0 : at;
	*size = t->size;
}

int g2t_text_open(struct g2t_text **out, const char *path,
                  const struct g2t_text_opts *o, struct g2t_diag *d)
{
	struct g2t_text *t = calloc(1, sizeof *t);
	struct stat st;
	int rc, fd;

	*out = NULL;
	if (!t)
		return G2T_ENOMEM;
	*out = t;
	t->delim = o->delimiter ? o->delimiter : ',';
	t->wide = o->wide;
	t->format = o->format == G2T_TEXT_SVMLIGHT ? G2T_TEXT_SVMLIGHT : G2T_TEXT_CSV;
	t->next_line = 1;
	t->label_col = -1;
	fd = !path || !strcmp(path, "-") ? dup(STDIN_FILENO) : -2;
	t->gz = fd == -2 ? gzopen(path, "rb") : fd >= 0 ? gzdopen(fd, "rb") : NULL;
	t->buf = malloc(TEXT_BUF);
	if (fd >= 0 ? !fstat(fd, &st) : path && !stat(path, &st))
		t->size = S_ISREG(st.st_mode) ? (long long)st.st_size : 0;
	if (!t->gz || !t->buf)
		return g2t_fail(d, t->buf ? G2T_EIO : G2T_ENOMEM, 0, -1, "%s",
		                errno ? strerror(errno) : "cannot open");
	rc = read_record(t, d);
	if (rc <= 0)
		return rc ? rc : g2t_fail(d, G2T_EDATA, 0, -1, "empty file");
	/* a UTF-8 byte order mark (spreadsheets write one) starts the file, not
	 * the first column's name */
	if (t->line == 1 && t->len >= 3 && !memcmp(t->rec, "\xEF\xBB\xBF", 3)) {
		t->len -= 3;
		memmove(t->rec, t->rec + 3, t->len + 1);
	}
	if (o->format == G2T_TEXT_AUTO && (looks_svmlight(t->rec) ||
	    (*t->rec == '#' && looks_svmlight_after_comments(t))))
		t->format = G2T_TEXT_SVMLIGHT;
	if (t->format == G2T_TEXT_SVMLIGHT) {
		t->pending = 1;
		return G2T_OK;
	}
	return read_header(t, o, d);
}

static int ensure_values(struct g2t_text *t, size_t n)
{
	size_t cap = t->valcap;

	if (n <= cap)
		return G2T_OK;
	if (g2t_grow((void **)&t->value, &cap, n, sizeof *t->value))
		return G2T_ENOMEM;
	cap = t->valcap;
	if (g2t_grow((void **)&t->index, &cap, n, sizeof *t->index))
		return G2T_ENOMEM;
	cap = t->valcap;
	if (t->wide && g2t_grow((void **)&t->value64, &cap, n, sizeof *t->value64))
		return G2T_ENOMEM;
	t->valcap = cap;
	return G2T_OK;
}

/* Value k of the row, and its binary64 form when wide. */
static int parse_value(struct g2t_text *t, size_t k, const char *s, size_t n)
{
	double v;

	if (parse_double(s, n, &v))
		return G2T_EDATA;
	t->value[k] = (float)v;
	if (t->wide)
		t->value64[k] = v;
	return G2T_OK;
}

static int number(struct g2t_text *t, size_t k, const char *s, size_t n, const char *col,
                  struct g2t_diag *d)
{
	if (parse_value(t, k, s, n) == G2T_OK)
		return G2T_OK;
	if (n == 0)
		return g2t_fail(d, G2T_EDATA, t->line, -1, "column '%s': empty value", col);
	return g2t_fail(d, G2T_EDATA, t->line, -1,
	                "column '%s': '%.*s' is not a finite binary32 number", col,
	                n > 40 ? 40 : (int)n, s);
}

static int csv_row(struct g2t_text *t, struct g2t_row *row, struct g2t_diag *d)
{
	uint32_t k = 0;
	int rc;

	if ((rc = split_csv(t, d)))
		return rc;
	if (t->nfld != t->columns)
		return g2t_fail(d, G2T_EDATA, t->line, -1, "expected %u fields, found %zu",
		                t->columns, t->nfld);
	if (ensure_values(t, t->nfld))
		return G2T_ENOMEM;
	row->label = NULL;
	row->label_len = 0;
	for (size_t i = 0; i < t->nfld; i++) {
		if ((long)i == t->label_col) {
			row->label = t->fld[i];
			row->label_len = strlen(t->fld[i]);
		} else if (t->ignore && t->ignore[k]) {
			if (t->wide)
				t->value64[k] = 0.0;
			t->value[k++] = 0.0f;
		} else if ((rc = number(t, k, t->fld[i], strlen(t->fld[i]), t->names[k], d))) {
			return rc;
		} else {
			k++;
		}
	}
	row->n = k;
	row->index = NULL;
	row->value = t->value;
	row->value64 = t->value64;
	return 1;
}

static int svm_row(struct g2t_text *t, struct g2t_row *row, struct g2t_diag *d)
{
	char *p = t->rec, *tok;
	uint32_t k = 0;
	unsigned long prev = 0;

	if (ensure_values(t, 1)) /* so that index is set even for no values */
		return G2T_ENOMEM;
	if ((tok = strchr(p, '#')))
		*tok = '\0';
	tok = strtok_r(p, " \t", &p);
	if (!tok)
		return g2t_fail(d, G2T_EDATA, t->line, -1, "missing label");
	row->label = tok;
	row->label_len = strlen(tok);
	while ((tok = strtok_r(NULL, " \t", &p))) {
		char *colon = strchr(tok, ':'), *end;
		unsigned long at;

		if (!strncmp(tok, "qid:", 4))
			continue;
		errno = 0;
		at = colon ? strtoul(tok, &end, 10) : 0;
		if (!colon || end != colon || end == tok || *tok == '-' || *tok == '+')
			return g2t_fail(d, G2T_EDATA, t->line, -1,
			                "'%.40s' is not index:value", tok);
		if (at == 0 && !errno)
			return g2t_fail(d, G2T_EDATA, t->line, -1,
			                "feature index 0: svmlight indices start at 1");
		if (at <= prev && !errno)
			return g2t_fail(d, G2T_EDATA, t->line, -1, "feature index %lu %s: indices "
			                "must increase along a line", at, at == prev
			                ? "repeated" : "after a larger one");
		/* refused here, before rows of that width are ever made dense */
		if (errno || at > G2T_FEATURE_LIMIT)
			return g2t_fail(d, G2T_EDATA, t->line, -1,
			                "feature index %.*s exceeds the limit %u", (int)(colon - tok),
			                tok, G2T_FEATURE_LIMIT);
		if (ensure_values(t, k + 1))
			return G2T_ENOMEM;
		if (parse_value(t, k, colon + 1, strlen(colon + 1)))
			return g2t_fail(d, G2T_EDATA, t->line, -1,
			                "feature %lu: '%.40s' is not a finite binary32 number", at, colon + 1);
		t->index[k++] = (uint32_t)(at - 1);
		prev = at;
	}
	row->n = k;
	row->index = t->index;
	row->value = t->value;
	row->value64 = t->value64;
	return 1;
}

int g2t_text_next(struct g2t_text *t, struct g2t_row *row, struct g2t_diag *d)
{
	int rc = 1;

	do {
		if (!t->pending)
			rc = read_record(t, d);
		t->pending = 0;
		if (rc <= 0)
			return rc;
	} while (t->format == G2T_TEXT_SVMLIGHT && svm_blank(t->rec));
	row->line = t->line;
	return t->format == G2T_TEXT_CSV ? csv_row(t, row, d) : svm_row(t, row, d);
}

int g2t_text_format(const struct g2t_text *t)
{
	return t->format;
}

uint32_t g2t_text_columns(const struct g2t_text *t, const char *const **names)
{
	*names = (const char *const *)t->names;
	return t->names ? t->columns - (t->label_col >= 0) : 0;
}

int g2t_text_ignore(struct g2t_text *t, uint32_t column)
{
	const char *const *names;
	uint32_t n = g2t_text_columns(t, &names);

	if (column >= n)
		return G2T_EPARAM;
	if (!t->ignore && !(t->ignore = calloc(n, 1)))
		return G2T_ENOMEM;
	t->ignore[column] = 1;
	return G2T_OK;
}

const char *g2t_text_label_name(const struct g2t_text *t)
{
	return t->label_name;
}

void g2t_text_free(struct g2t_text *t)
{
	if (!t)
		return;
	if (t->gz)
		gzclose(t->gz);
	for (uint32_t i = 0; t->names && i + (t->label_col >= 0) < t->columns; i++)
		free(t->names[i]);
	free(t->names);
	free(t->ignore);
	free(t->label_name);
	free(t->buf);
	free(t->rec);
	free(t->fld);
	free(t->value);
	free(t->value64);
	free(t->index);
	free(t);
}
