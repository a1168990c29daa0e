/* Status words, hashes, checksums and atomic output files. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <zlib.h>

#include "g2t.h"

const char *g2t_strerror(int status)
{
	switch (status) {
	case G2T_OK: return "success";
	case G2T_ENOMEM: return "out of memory";
	case G2T_EIO: return "input/output error";
	case G2T_ETRUNC: return "truncated stream";
	case G2T_EMAGIC: return "not a G2T stream (bad magic)";
	case G2T_EVERSION: return "unsupported G2T stream version";
	case G2T_ECRC: return "record checksum mismatch";
	case G2T_ETOOBIG: return "record too large";
	case G2T_EFORMAT: return "malformed record";
	case G2T_ESCHEMA: return "record does not match the schema";
	case G2T_EPARAM: return "invalid parameter";
	case G2T_EDATA: return "bad input data";
	case G2T_ECONFLICT: return "conflicting results";
	case G2T_ESIGNATURE: return "bad signature";
	case G2T_EREFUSED: return "refused";
	case G2T_ETEMP: return "temporary failure, try again later";
	default: return "unknown error";
	}
}

int g2t_exit_code(int status)
{
	switch (status) {
	case G2T_OK: return G2T_EXIT_OK;
	case G2T_ENOMEM: case G2T_EIO: return G2T_EXIT_FAIL;
	case G2T_EPARAM: return G2T_EXIT_USAGE;
	case G2T_ETEMP: return G2T_EXIT_TEMPFAIL;
	default: return G2T_EXIT_DATA;
	}
}

int g2t_fail(struct g2t_diag *d, int status, long line, long long offset,
             const char *what, ...)
{
	va_list ap;

	char text[sizeof d->what]; /* the arguments may point into d->what */

	va_start(ap, what);
	vsnprintf(text, sizeof text, what, ap);
	va_end(ap);
	d->line = line;
	d->offset = offset;
	memcpy(d->what, text, sizeof text);
	return status;
}

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;

static void start_sodium(void)
{
	if (sodium_init() < 0)
		abort(); /* libsodium cannot run at all: nothing sensible to do */
}

void g2t_crypto_init(void)
{
	pthread_once(&sodium_once, start_sodium);
}

void g2t_hash(uint8_t out[G2T_HASH_SIZE], const void *p, size_t len)
{
	g2t_crypto_init();
	crypto_generichash(out, G2T_HASH_SIZE, p, len, NULL, 0);
}

void g2t_task_hash(uint8_t out[G2T_HASH_SIZE], const struct g2t_task_id *id)
{
	uint8_t buf[G2T_TASK_ID_SIZE];

	g2t_task_id_encode(buf, sizeof buf, id);
	g2t_hash(out, buf, sizeof buf);
}

int g2t_task_read(struct g2t_task *t, const uint8_t *p, size_t len,
                  long long offset, struct g2t_diag *d)
{
	uint8_t hash[G2T_HASH_SIZE];

	if (g2t_task_decode(t, p, len))
		return g2t_fail(d, G2T_EFORMAT, 0, offset, "bad TASK record");
	g2t_hash(hash, p + G2T_HASH_SIZE, G2T_TASK_ID_SIZE);
	if (memcmp(hash, t->hash, G2T_HASH_SIZE))
		return g2t_fail(d, G2T_EFORMAT, 0, offset, "TASK record of task %u: its hash "
		                "is not that of its identity", t->id.task);
	return G2T_OK;
}

uint32_t g2t_crc32(uint32_t crc, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		uInt n = len > 1u << 30 ? 1u << 30 : (uInt)len;

		crc = (uint32_t)crc32(crc, buf, n);
		buf += n;
		len -= n;
	}
	return crc;
}

int g2t_write_header(FILE *f)
{
	uint8_t h[G2T_HEADER_SIZE];

	g2t_stream_header(h);
	return fwrite(h, 1, sizeof h, f) == sizeof h ? G2T_OK : G2T_EIO;
}

int g2t_write_record(FILE *f, uint32_t type, const uint8_t *payload, uint32_t len)
{
	uint8_t h[G2T_HEADER_SIZE], c[G2T_CRC_SIZE];

	g2t_record_frame(h, c, type, payload, len, g2t_crc32);
	if (fwrite(h, 1, sizeof h, f) != sizeof h ||
	    (len && fwrite(payload, 1, len, f) != len) ||
	    fwrite(c, 1, sizeof c, f) != sizeof c)
		return G2T_EIO;
	return G2T_OK;
}

/* Creates tmp, "path.XXXXXX" in n bytes, exclusively; the umask sets its
 * mode, as for a file the shell creates (mkstemp()'s 0600 would make a
 * model or a task file unreadable to others whatever the umask). */
static int create_temp(char *tmp, size_t n, const char *path)
{
	static const char digit[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	int fd = -1;

	g2t_crypto_init();
	for (int tries = 0; tries < 100 && fd < 0; tries++) {
		uint32_t r = randombytes_random();
		char suffix[7];

		for (int i = 0; i < 6; i++, r /= 36)
			suffix[i] = digit[r % 36];
		suffix[6] = '\0';
		snprintf(tmp, n, "%s.%s", path, suffix);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	return fd;
}

/* The temporary names of the outputs open now, for g2t_out_remove_temps()
 * in a signal handler; a name that does not fit a slot is not listed. */
#define TEMP_SLOTS 16
static char temp_name[TEMP_SLOTS][4096];
static atomic_int temp_used[TEMP_SLOTS]; /* 0 free, 1 taken, 2 listed */

static void temp_list(const char *tmp)
{
	for (int i = 0; i < TEMP_SLOTS; i++) {
		int free_slot = 0;

		if (strlen(tmp) < sizeof temp_name[i] &&
		    atomic_compare_exchange_strong(&temp_used[i], &free_slot, 1)) {
			strcpy(temp_name[i], tmp);
			atomic_store(&temp_used[i], 2);
			return;
		}
	}
}

static void temp_unlist(const char *tmp)
{
	for (int i = 0; i < TEMP_SLOTS; i++)
		if (atomic_load(&temp_used[i]) == 2 && !strcmp(temp_name[i], tmp)) {
			atomic_store(&temp_used[i], 0);
			return;
		}
}

void g2t_out_remove_temps(void)
{
	for (int i = 0; i < TEMP_SLOTS; i++)
		if (atomic_load(&temp_used[i]) == 2)
			unlink(temp_name[i]);
}

int g2t_out_open(struct g2t_out *o, const char *path, struct g2t_diag *d)
{
	size_t n = path ? strlen(path) + 8 : 0;
	struct stat st;
	int fd;

	memset(o, 0, sizeof *o);
	if (!path || !strcmp(path, "-")) {
		o->f = stdout;
		return G2T_OK;
	}
	/* a device or a FIFO, such as /dev/null, is written in place: a file
	 * renamed over it would replace it */
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		if (S_ISDIR(st.st_mode))
			return g2t_fail(d, G2T_EIO, 0, -1, "%s", strerror(EISDIR));
		if ((o->f = fopen(path, "wb")))
			return G2T_OK;
		return g2t_fail(d, G2T_EIO, 0, -1, "%s", strerror(errno));
	}
	o->path = strdup(path);
	o->tmp = malloc(n);
	if (!o->path || !o->tmp) {
		g2t_out_abort(o);
		return G2T_ENOMEM;
	}
	fd = create_temp(o->tmp, n, path);
	if (fd >= 0)
		temp_list(o->tmp);
	if (fd >= 0 && (o->f = fdopen(fd, "wb")))
		return G2T_OK;
	g2t_fail(d, G2T_EIO, 0, -1, "%s", strerror(errno));
	if (fd >= 0)
		close(fd);
	else
		free(o->tmp), o->tmp = NULL; /* nothing was created */
	g2t_out_abort(o);
	return G2T_EIO;
}

/* fsync the directory holding path, so the rename is durable too. */
static int sync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, (size_t)(slash - path) + 1) : strdup(".");
	int fd, rc = G2T_OK;

	if (!dir)
		return G2T_ENOMEM;
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0 || fsync(fd) != 0)
		rc = G2T_EIO;
	if (fd >= 0)
		close(fd);
	free(dir);
	return rc;
}

int g2t_out_commit(struct g2t_out *o, struct g2t_diag *d)
{
	int rc = G2T_OK;

	/* written in place (stdout, a device, a FIFO): made durable if it is a
	 * file, and nothing to rename */
	if (fflush(o->f) != 0 || ferror(o->f) ||
	    (fsync(fileno(o->f)) != 0 && (o->tmp || (errno != EINVAL && errno != EROFS))))
		rc = G2T_EIO;
	if (o->f != stdout) {
		if (fclose(o->f) != 0)
			rc = G2T_EIO;
		o->f = NULL;
		if (rc == G2T_OK && o->tmp && rename(o->tmp, o->path) != 0)
			rc = G2T_EIO;
		if (rc == G2T_OK && o->tmp)
			rc = sync_parent(o->path);
		if (rc == G2T_OK) {
			temp_unlist(o->tmp);
			free(o->tmp);
			o->tmp = NULL;
		}
		g2t_out_abort(o);
	}
	return rc ? g2t_fail(d, rc, 0, -1, "%s", strerror(errno)) : G2T_OK;
}

void g2t_out_abort(struct g2t_out *o)
{
	if (o->f && o->f != stdout)
		fclose(o->f);
	if (o->tmp) {
		temp_unlist(o->tmp);
		unlink(o->tmp);
	}
	free(o->tmp);
	free(o->path);
	memset(o, 0, sizeof *o);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

long g2t_duplicate_name(const char *const *names, size_t n)
{
	const char **sorted = malloc(n * sizeof *sorted);
	long dup = -1;

	if (!sorted)
		return -1;
	memcpy(sorted, names, n * sizeof *sorted);
	qsort(sorted, n, sizeof *sorted, by_name);
	for (size_t i = 1; i < n && dup < 0; i++)
		if (!strcmp(sorted[i - 1], sorted[i]))
			for (size_t j = 0; j < n && dup < 0; j++)
				if (!strcmp(names[j], sorted[i]))
					dup = (long)j;
	free(sorted);
	return dup;
}

const char *g2t_display_name(const char *path)
{
	return !path || !strcmp(path, "-") ? "stdin" : path;
}

int g2t_path(char *out, size_t n, const char *dir, const char *name)
{
	size_t len = strlen(dir);

	return snprintf(out, n, "%s%s%s", dir, len && dir[len - 1] == '/' ? "" : "/", name);
}

int g2t_grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 16;
	void *q;

	while (n < need)
		n *= 2;
	if (n == *cap)
		return G2T_OK;
	q = realloc(*p, n * size);
	if (!q)
		return G2T_ENOMEM;
	*p = q;
	*cap = n;
	return G2T_OK;
}

size_t g2t_nonfinite(const float *v, size_t n)
{
	size_t i = 0;

	while (i < n && isfinite(v[i]))
		i++;
	return i;
}
