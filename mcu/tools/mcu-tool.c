/*
 * mcu-tool - host helper of the microcontroller build.
 *
 *   mcu-tool header NAME TASKS.g2t FIXED.g2t TEST.csv[.gz]
 *       C header for the firmware: the task stream as a byte array; the
 *       TASK records of FIXED (the same rows split for fixed-point
 *       training), which replace those of TASKS from its offset
 *       DS_NAME_TASKS_AT on; and the held-out rows whose class is in the
 *       stream's schema, as raw byte values (every value must be an
 *       integer 0..255) and class indices.
 *   mcu-tool weights FILE.g2t
 *       Every WEIGHTS record of FILE, framed, as a "W <hex>" line: the form
 *       the firmware prints.
 *   mcu-tool stream TASKS.g2t [LINES]
 *       What a gateway does with a device's output: a G2T stream of the
 *       SCHEMA of TASKS and the records of the "W <hex>" lines of LINES
 *       (standard input by default), for g2t-pack, g2t-merge, ...
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "g2t_core.h" /* the core only: no dependence on the hosted library */

static void die(const char *msg, const char *what)
{
	fprintf(stderr, "mcu-tool: %s: %s\n", what, msg);
	exit(1);
}

static uint32_t crc(uint32_t c, const uint8_t *p, size_t n)
{
	return (uint32_t)crc32(c, p, (uInt)n);
}

/* What the header needs of a SCHEMA payload: F and the class names. */
struct schema {
	uint32_t features, classes;
	const uint8_t **name;
	uint32_t *name_len;
};

static int schema_parse(struct schema *s, const uint8_t *p, size_t len)
{
	size_t at = 12, each;
	uint32_t i, n, flags;

	if (len < 12)
		return -1;
	s->features = g2t_get_u32(p);
	s->classes = g2t_get_u32(p + 4);
	flags = g2t_get_u32(p + 8);
	each = flags & 2 ? 4 : 8; /* bit 1, a sparse set: scales only */
	if (!(s->name = calloc(s->classes, sizeof *s->name)) ||
	    !(s->name_len = calloc(s->classes, sizeof *s->name_len)))
		die("out of memory", "schema");
	/* the label, then the feature names unless bit 2 leaves them out */
	for (i = 0; i < 1 + (flags & 4 ? 0 : s->features); i++) {
		if (len - at < 4 || len - at - 4 < (n = g2t_get_u32(p + at)))
			return -1;
		at += 4 + n;
	}
	if ((len - at) / each < s->features)
		return -1;
	at += (size_t)s->features * each; /* offsets and scales */
	for (i = 0; i < s->classes; i++) {
		if (len - at < 4 || len - at - 4 < (n = g2t_get_u32(p + at)))
			return -1;
		s->name[i] = p + at + 4;
		s->name_len[i] = n;
		at += 4 + n;
		if (len - at < 4 + G2T_HASH_SIZE)
			return -1;
		at += 4 + G2T_HASH_SIZE;
	}
	return at == len ? 0 : -1;
}

static long schema_class(const struct schema *s, const char *name)
{
	for (uint32_t i = 0; i < s->classes; i++)
		if (s->name_len[i] == strlen(name) && !memcmp(s->name[i], name, s->name_len[i]))
			return i;
	return -1;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	gzFile f = gzopen(path, "rb");
	uint8_t *p = NULL;
	size_t cap = 0, n = 0;
	int got;

	if (!f)
		die(strerror(errno), path);
	do {
		if (cap - n < 65536 && !(p = realloc(p, cap = cap * 2 + 65536)))
			die("out of memory", path);
		got = gzread(f, p + n, (unsigned)(cap - n));
		if (got < 0)
			die("read error", path);
		n += (size_t)got;
	} while (got > 0);
	gzclose(f);
	*len = n;
	return p;
}

/* Calls fn(type, record, record length) for every record of a stream. */
static void records(const uint8_t *s, size_t len, const char *path,
                    void (*fn)(uint32_t, const uint8_t *, uint32_t, void *), void *arg)
{
	static uint8_t buf[1u << 26];
	struct g2t_decoder d;
	size_t at = 0, used;
	int ev, rc;

	g2t_decoder_init(&d, buf, sizeof buf, crc);
	while (at < len) {
		rc = g2t_decoder_push(&d, s + at, len - at, &used, &ev);
		at += used;
		if (rc < 0)
			die("not a valid G2T stream", path);
		if (ev == G2T_EV_RECORD)
			fn(d.type, s + d.offset, G2T_HEADER_SIZE + d.length + G2T_CRC_SIZE, arg);
	}
	if (!g2t_decoder_at_boundary(&d))
		die("truncated stream", path);
}

static void print_weights(uint32_t type, const uint8_t *r, uint32_t n, void *arg)
{
	(void)arg;
	if (type != G2T_REC_WEIGHTS)
		return;
	fputs("W ", stdout);
	for (uint32_t i = 0; i < n; i++)
		printf("%02x", r[i]);
	putchar('\n');
}

static void find_schema(uint32_t type, const uint8_t *r, uint32_t n, void *arg)
{
	struct schema *s = arg;

	if (type == G2T_REC_SCHEMA && !s->classes &&
	    schema_parse(s, r + G2T_HEADER_SIZE, n - G2T_HEADER_SIZE - G2T_CRC_SIZE))
		die("bad SCHEMA record", "schema");
}

static void copy_schema(uint32_t type, const uint8_t *r, uint32_t n, void *arg)
{
	int *done = arg;

	if (type == G2T_REC_SCHEMA && !*done) {
		fwrite(r, 1, n, stdout);
		*done = 1;
	}
}

static int stream(const char *tasks, const char *lines)
{
	size_t len;
	uint8_t *s = slurp(tasks, &len), hdr[G2T_HEADER_SIZE];
	FILE *in = lines ? fopen(lines, "r") : stdin;
	char *line = NULL;
	size_t cap = 0;
	int done = 0;

	if (!in)
		die(strerror(errno), lines);
	g2t_stream_header(hdr);
	fwrite(hdr, 1, sizeof hdr, stdout);
	records(s, len, tasks, copy_schema, &done);
	if (!done)
		die("no SCHEMA record", tasks);
	while (getline(&line, &cap, in) > 0) {
		if (strncmp(line, "W ", 2))
			continue;
		for (char *h = line + 2; h[0] && h[1] && h[0] != '\n'; h += 2) {
			unsigned v;

			if (sscanf(h, "%2x", &v) != 1)
				die("bad hex", lines ? lines : "stdin");
			putchar((int)v);
		}
	}
	free(line);
	free(s);
	return ferror(stdout) || fflush(stdout) ? 1 : 0;
}

/* Where the first TASK record of a stream starts. */
struct first_task {
	const uint8_t *stream;
	size_t at;
};

static void find_task(uint32_t type, const uint8_t *r, uint32_t n, void *arg)
{
	struct first_task *f = arg;

	(void)n;
	if (type == G2T_REC_TASK && !f->at)
		f->at = (size_t)(r - f->stream);
}

static size_t tasks_at(const uint8_t *s, size_t len, const char *path)
{
	struct first_task f = { s, 0 };

	records(s, len, path, find_task, &f);
	if (!f.at)
		die("no TASK record", path);
	return f.at;
}

static void array(const char *name, const char *part, const uint8_t *p, size_t n)
{
	printf("static const G2T_FLASH uint8_t ds_%s_%s[%zu] = {", name, part, n);
	for (size_t i = 0; i < n; i++)
		printf("%s%u,", i % 24 ? "" : "\n\t", p[i]);
	printf("\n};\n");
}

static int header(const char *name, const char *tasks, const char *fixed,
                  const char *test)
{
	size_t slen, flen, tlen, rows = 0, cap = 0, at, fat;
	uint8_t *s = slurp(tasks, &slen), *f = slurp(fixed, &flen), *t = slurp(test, &tlen);
	uint8_t *x = NULL, *y = NULL;
	struct schema schema = { 0, 0, NULL, NULL };
	char *line, *save = NULL;
	uint32_t F;

	at = tasks_at(s, slen, tasks);
	fat = tasks_at(f, flen, fixed);
	if (at != fat || memcmp(s, f, at))
		die("its SCHEMA and SHARD records differ from those of the tasks", fixed);
	records(s, slen, tasks, find_schema, &schema);
	if (!schema.classes)
		die("no SCHEMA record", tasks);
	F = schema.features;
	t = realloc(t, tlen + 1);
	t[tlen] = 0;
	line = strtok_r((char *)t, "\r\n", &save); /* the header row */
	while ((line = strtok_r(NULL, "\r\n", &save))) {
		char *label = strrchr(line, ','), *p = line, *end;
		long k;

		if (!label)
			die("not a CSV line", test);
		*label++ = 0;
		k = schema_class(&schema, label);
		if (k < 0)
			continue; /* a class this task set does not train */
		if (rows == cap) {
			cap = cap * 2 + 256;
			if (!(x = realloc(x, cap * F)) || !(y = realloc(y, cap)))
				die("out of memory", test);
		}
		for (uint32_t j = 0; j < F; j++) {
			long v = strtol(p, &end, 10);

			if (end == p || (*end != ',' && *end) || v < 0 || v > 255)
				die("a value is not an integer 0..255", test);
			x[rows * F + j] = (uint8_t)v;
			p = *end ? end + 1 : end;
		}
		if (*p)
			die("too many columns", test);
		y[rows++] = (uint8_t)k;
	}
	printf("/* generated by mcu-tool from %s, %s and %s */\n", tasks, fixed, test);
	printf("#define DS_%s_F %u\n", name, F);
	printf("#define DS_%s_TASKS_AT %zu\n", name, at);
	array(name, "stream", s, slen);
	array(name, "fixed", f + at, flen - at);
	array(name, "tx", x, rows * F);
	array(name, "ty", y, rows);
	free(schema.name), free(schema.name_len);
	free(s), free(f), free(t), free(x), free(y);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[1], "header"))
		return header(argv[2], argv[3], argv[4], argv[5]);
	if (argc == 3 && !strcmp(argv[1], "weights")) {
		size_t len;
		uint8_t *s = slurp(argv[2], &len);

		records(s, len, argv[2], print_weights, NULL);
		free(s);
		return ferror(stdout) || fflush(stdout) ? 1 : 0;
	}
	if ((argc == 3 || argc == 4) && !strcmp(argv[1], "stream"))
		return stream(argv[2], argc == 4 ? argv[3] : NULL);
	fprintf(stderr, "usage: mcu-tool header NAME TASKS.g2t FIXED.g2t TEST.csv |\n"
	        "       weights FILE.g2t |\n"
	        "       stream TASKS.g2t [LINES]\n");
	return 2;
}
