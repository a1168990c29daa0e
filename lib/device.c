/*
 * The device loop of g2t-device: what g2t-fetch, g2t-train and g2t-pack do
 * in a shell loop, in one process.  Lease as many tasks as W_t wants, train
 * them into the spool, pack and send once W_t weight sets are held, and
 * send whatever is held when the server has no work.  Leased tasks wait in
 * SPOOL/lease.g2t until their weights are in the spool, so a stop or a
 * crash between the two trains them at the next start: nothing leased is
 * lost.  The state the loop is in (working, idle, unreachable, ...) is kept
 * in SPOOL/device and reported once when it changes, so an idle device
 * says nothing, under cron too.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "g2t.h"

#define IDLE_FIRST 1.0        /* seconds: first wait when idle or cut off */
#define LEASE_SECONDS 5.0     /* a lease is what the link fetches in this long */

struct device {
	const struct g2t_device_opts *o;
	struct g2t_device_stats *st;
	struct g2t_spool *sp;
	struct g2t_diag *d;
	char lease[4096];          /* SPOOL/lease.g2t */
	int state;                 /* the state last reported */
	char said[512];            /* and its line: a refusal for a new reason is told */
	double backoff;            /* base of the next idle wait, seconds */
	double task_seconds;       /* smoothed lease seconds per task; 0: none yet */
};

static const char *const state_name[] = {
	"start", "working", "idle", "done", "unreachable", "refused", "stopped"
};

static double seconds_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int stopping(const struct device *v)
{
	return v->o->stop && *v->o->stop;
}

/* Reports a state once: nothing when the loop (or the last run) was
 * already in it. */
static void enter(struct device *v, int state, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void enter(struct device *v, int state, const char *fmt, ...)
{
	char path[4096], line[512];
	struct g2t_out out;
	struct g2t_diag ignored;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (state == v->state && (state != G2T_DEVICE_REFUSED || !strcmp(line, v->said)))
		return;
	v->state = state;
	snprintf(v->said, sizeof v->said, "%s", line);
	if (v->o->say)
		v->o->say(v->o->ctx, line);
	g2t_path(path, sizeof path, v->o->spool, "device");
	if (!g2t_out_open(&out, path, &ignored)) {
		fprintf(out.f, "%s\n%s\n", state_name[state], line);
		g2t_out_commit(&out, &ignored);
		g2t_out_abort(&out);
	}
}

/* Status rc, its words prefixed by "name: ". */
static int named(struct g2t_diag *d, int rc, const char *name)
{
	char why[sizeof d->what];

	snprintf(why, sizeof why, "%s", d->what);
	return g2t_fail(d, rc, 0, -1, "%s: %s", name, why);
}

/* The state the last run ended in and its line, so that a cron run
 * repeats nothing. */
static void last_state(struct device *v)
{
	char path[4096], word[32] = "";
	FILE *f;

	v->state = G2T_DEVICE_START;
	g2t_path(path, sizeof path, v->o->spool, "device");
	if ((f = fopen(path, "r"))) {
		if (!fgets(word, sizeof word, f) || !fgets(v->said, sizeof v->said, f))
			v->said[0] = '\0';
		fclose(f);
	}
	word[strcspn(word, "\n")] = '\0';
	v->said[strcspn(v->said, "\n")] = '\0';
	for (int i = 0; i < (int)(sizeof state_name / sizeof *state_name); i++)
		if (!strcmp(word, state_name[i]))
			v->state = i;
}

/* Waits about backoff seconds (jittered, at least the server's wish),
 * then doubles the backoff up to the idle limit; a stop cuts it short. */
static void idle_wait(struct device *v, long retry_after)
{
	double w = v->backoff * (0.5 + 0.5 * (double)randombytes_uniform(1001) / 1000.0);
	struct timespec ts;

	if ((double)retry_after > w)
		w = (double)retry_after;
	if (w > (double)v->o->idle_max)
		w = (double)v->o->idle_max;
	ts.tv_sec = (time_t)w;
	ts.tv_nsec = (long)((w - (double)ts.tv_sec) * 1e9);
	while (!stopping(v) && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	v->backoff *= 2.0;
	if (v->backoff > (double)v->o->idle_max)
		v->backoff = (double)v->o->idle_max;
}

static void note_refusal(void *ctx, uint64_t seq, const char *why)
{
	struct device *v = ctx;

	char line[512];

	v->st->refused++;
	snprintf(line, sizeof line, "%s: %s (packet %llu kept aside as p-%020llu.refused)",
	         v->o->url, why, (unsigned long long)seq, (unsigned long long)seq);
	if (v->o->say) /* an event, not a state: each is told */
		v->o->say(v->o->ctx, line);
}

int g2t_spool_send(struct g2t_spool *s, const struct g2t_send_opts *o,
                   void (*refused)(void *ctx, uint64_t seq, const char *why), void *ctx,
                   unsigned *acked, unsigned *nrefused, struct g2t_diag *d)
{
	const uint64_t *seq;
	int rc = G2T_OK;

	while (!rc && g2t_spool_pending(s, &seq)) {
		struct g2t_send_result r;
		uint64_t n = seq[0];
		uint8_t *p;
		size_t len;

		if ((rc = g2t_spool_packet(s, n, &p, &len, d)))
			break;
		rc = g2t_send_packet(o, p, len, &r, d);
		free(p);
		if (r.attempts) {
			struct g2t_diag ignored;
			/* link figures matter less than the packet: keep going on error */
			g2t_spool_note_send(s, g2t_send_link_ok(&r), r.rtt_ms, r.bytes_per_s,
			                    &ignored);
		}
		if (rc == G2T_EREFUSED) {
			if (refused)
				refused(ctx, n, d->what);
			++*nrefused;
			rc = g2t_spool_packet_done(s, n, 1, d);
		} else if (!rc) {
			++*acked;
			rc = g2t_spool_packet_done(s, n, 0, d);
		}
	}
	return rc;
}

/* Sends what waits; G2T_ETEMP when the server cannot be reached. */
static int send_waiting(struct device *v)
{
	struct g2t_send_opts so = { .url = v->o->url, .cacert = v->o->cacert,
	                            .connect_timeout = 10, .timeout = 60,
	                            .retry_max = v->o->retry_max, .key = v->o->key };
	unsigned acked = 0, refused = 0;
	double t0 = seconds_now();
	int rc = g2t_spool_send(v->sp, &so, note_refusal, v, &acked, &refused, v->d);

	v->st->net_seconds += seconds_now() - t0;
	v->st->packets += acked;
	return rc;
}

/* Packs every held weight set into one packet. */
static int pack(struct device *v)
{
	uint64_t seq;

	if (!g2t_spool_held(v->sp))
		return G2T_OK;
	return g2t_spool_pack(v->sp, v->o->key, v->o->precision, 1, (uint64_t)time(NULL),
	                      &seq, v->d);
}

/* Trains the tasks of SPOOL/lease.g2t into the spool, then lets the file go.
 * Tasks that cannot be trained are set aside as SPOOL/lease.bad, said, and
 * left to their leases' expiry: they must not stop the device for good. */
static int train_lease(struct device *v)
{
	struct g2t_train_opts t = { .jobs = v->o->jobs, .task = -1 };
	const char *paths[1] = { v->lease }, *bad;
	char *buf = NULL;
	size_t len = 0;
	uint32_t added = 0;
	FILE *mem = open_memstream(&buf, &len);
	double t0 = seconds_now();
	int rc;

	if (!mem)
		return G2T_ENOMEM;
	g2t_params_host_default(&t.params);
	rc = g2t_train_files(paths, 1, &t, mem, &bad, v->d);
	v->st->train_seconds += seconds_now() - t0;
	if (fclose(mem) != 0 && !rc)
		rc = G2T_ENOMEM;
	if (!rc) {
		rc = g2t_spool_add(v->sp, (const uint8_t *)buf, len, &added, v->d);
	} else if (rc != G2T_ENOMEM) {
		char aside[4096], line[4608];

		snprintf(aside, sizeof aside, "%s/lease.bad", v->o->spool);
		snprintf(line, sizeof line, "%s: cannot train it (%s); set aside as lease.bad",
		         v->lease, v->d->what);
		if (v->o->say)
			v->o->say(v->o->ctx, line);
		rc = rename(v->lease, aside) == 0 ? G2T_OK
		     : g2t_fail(v->d, G2T_EIO, 0, -1, "%s: %s", v->lease, strerror(errno));
		free(buf);
		return rc;
	}
	free(buf);
	if (!rc) {
		v->st->trained += added;
		if (unlink(v->lease) != 0)
			rc = g2t_fail(v->d, G2T_EIO, 0, -1, "%s: %s", v->lease, strerror(errno));
	}
	return rc;
}

/* Leases n tasks into SPOOL/lease.g2t. */
static int lease(struct device *v, unsigned n, struct g2t_fetch_result *r)
{
	struct g2t_fetch_opts fo = { .url = v->o->url, .cacert = v->o->cacert,
	                             .cache = v->o->cache, .connect_timeout = 10,
	                             .timeout = 60, .retry_max = v->o->retry_max,
	                             .count = n, .output = v->lease };
	struct g2t_out out;
	int rc = g2t_out_open(&out, v->lease, v->d);
	double t0 = seconds_now(), took;

	memset(r, 0, sizeof *r);
	if (rc)
		return g2t_fail(v->d, rc, 0, -1, "%s: %s", v->lease, v->d->what);
	rc = g2t_fetch_task(&fo, v->o->key, out.f, r, v->d);
	took = seconds_now() - t0;
	v->st->net_seconds += took;
	v->st->leases += !rc;
	if (!rc && r->tasks) {
		took /= (double)r->tasks;
		v->task_seconds = v->task_seconds > 0.0 ? (v->task_seconds + took) / 2.0 : took;
	}
	if (!rc && (rc = g2t_out_commit(&out, v->d))) {
		rc = named(v->d, rc, v->lease);
		r->local = 1;
	}
	g2t_out_abort(&out);
	return rc;
}

/*
 * Tasks to ask for: what W_t still wants, 1 to G2T_FETCH_MAX, but no more
 * than the last leases fetched in LEASE_SECONDS (one until a lease is
 * measured): W_t bounds the results held, not the bytes of one download.
 */
static unsigned wanted(const struct device *v)
{
	double q = g2t_link_quality(g2t_spool_link(v->sp));
	uint32_t w = g2t_batch_threshold(q, v->o->min_batch, v->o->max_batch);
	uint32_t held = g2t_spool_held(v->sp);
	double fits = v->task_seconds > 0.0 ? LEASE_SECONDS / v->task_seconds : 1.0;
	unsigned n;

	if (held >= w)
		return 1;
	n = w - held > G2T_FETCH_MAX ? G2T_FETCH_MAX : w - held;
	return fits < 1.0 ? 1 : fits < (double)n ? (unsigned)fits : n;
}

static int over_threshold(const struct device *v)
{
	double q = g2t_link_quality(g2t_spool_link(v->sp));

	return g2t_spool_held(v->sp) >=
	       g2t_batch_threshold(q, v->o->min_batch, v->o->max_batch);
}

/* One pass of the loop: 1 to go on, 0 when finished, or a status. */
static int step(struct device *v)
{
	struct g2t_fetch_result r;
	const uint64_t *seq;
	int rc;

	v->st->said = 0;
	if (g2t_spool_pending(v->sp, &seq)) {
		if ((rc = send_waiting(v)) != G2T_ETEMP)
			return rc ? rc : 1;
		enter(v, G2T_DEVICE_UNREACHABLE, "%s: %s; %zu packets held", v->o->url,
		      v->d->what, g2t_spool_pending(v->sp, &seq));
		v->st->said = 1;
		if (v->o->once || stopping(v))
			return G2T_ETEMP;
		idle_wait(v, 0);
		return 1;
	}
	if (stopping(v))
		return 0;
	rc = lease(v, wanted(v), &r);
	if (!rc) {
		v->backoff = IDLE_FIRST;
		enter(v, G2T_DEVICE_WORKING, "working for %s", v->o->url);
		if (!(rc = train_lease(v)) && over_threshold(v) && !stopping(v))
			rc = pack(v);
		return rc ? rc : 1;
	}
	if (r.local && rc != G2T_ETEMP) /* ETEMP: a stale cached schema, gone: ask again */
		return rc;
	if (rc == G2T_EPARAM) /* a bad URL: a usage error, told every run, not a state */
		return named(v->d, rc, v->o->url);
	if (stopping(v))
		return 0;
	if (r.no_work && g2t_spool_held(v->sp))
		return (rc = pack(v)) ? rc : 1;     /* flush: sent at the next pass */
	if (r.no_work && r.complete) {
		enter(v, G2T_DEVICE_DONE, "all tasks are done");
		return 0;
	}
	if (r.no_work) {
		enter(v, G2T_DEVICE_IDLE, "no work now");
		if (v->o->once)
			return 0;
		idle_wait(v, r.retry_after);
		return 1;
	}
	enter(v, rc == G2T_EREFUSED ? G2T_DEVICE_REFUSED : G2T_DEVICE_UNREACHABLE,
	      "%s: %s", v->o->url, v->d->what);
	v->st->said = 1;
	if (v->o->once)
		return rc;
	idle_wait(v, r.retry_after);
	return 1;
}

int g2t_device_run(const struct g2t_device_opts *o, struct g2t_device_stats *st,
                   struct g2t_diag *d)
{
	struct device v = { .o = o, .st = st, .d = d, .state = G2T_DEVICE_START,
	                    .backoff = IDLE_FIRST };
	int rc;

	memset(st, 0, sizeof *st);
	g2t_crypto_init();
	g2t_retry_cancel_on(o->stop);
	g2t_path(v.lease, sizeof v.lease, o->spool, "lease.g2t");
	rc = g2t_spool_open(&v.sp, o->spool, d);
	if (rc == G2T_EREFUSED && o->once) {
		/* locked: cron started this run while its last one still works */
		g2t_spool_close(v.sp);
		return G2T_OK;
	}
	if (!rc && !(rc = g2t_spool_claim(v.sp, o->key->pk, d))) {
		last_state(&v);
		/* tasks leased before a stop or a crash: their leases may still hold */
		if (access(v.lease, F_OK) == 0)
			rc = train_lease(&v);
	}
	while (!rc && (rc = step(&v)) == 1)
		rc = G2T_OK;
	if (!rc) {
		if (stopping(&v))
			enter(&v, G2T_DEVICE_STOPPED, "stopped; %u weight sets held in %s",
			      v.sp ? g2t_spool_held(v.sp) : 0, o->spool);
	}
	g2t_spool_close(v.sp);
	return rc;
}

int g2t_device_stats_write(const char *path, const struct g2t_device_stats *st,
                           struct g2t_diag *d)
{
	struct g2t_out out;
	int rc = g2t_out_open(&out, path, d);

	if (rc)
		return rc;
	fprintf(out.f, "trained %lu\npackets %lu\nrefused %lu\nleases %lu\n"
	        "net_ms %.0f\ntrain_ms %.0f\n", st->trained, st->packets, st->refused,
	        st->leases, st->net_seconds * 1e3, st->train_seconds * 1e3);
	rc = g2t_out_commit(&out, d);
	g2t_out_abort(&out);
	return rc;
}
