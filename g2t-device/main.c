/* g2t-device: lease, train, pack and send for a coordinator, until done. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli.h"

static const char usage[] =
	"usage: g2t-device -s KEYFILE [options] URL\n"
	"Work for the g2t-serve at URL: lease as many tasks as the link's W_t\n"
	"wants, train them, keep the weights in the key's spool, and send them in\n"
	"signed packets; send whatever is held when there is no work.  Runs until\n"
	"every task is done, or SIGTERM; a line on stderr per change of state.\n\n"
	"  -s, --key FILE           the device's secret key\n"
	"  -S, --spool DIR          the key's spool ($G2T_SPOOL or ~/.g2t)\n"
	"      --once               stop when there is no work now (for cron)\n"
	"  -j, --jobs N             train N tasks at once, 1 to 1024 (1)\n"
	"      --min-batch N        smallest W_t, 1 to 1000000 (1)\n"
	"      --max-batch N        largest W_t, 1 to 1000000 (64)\n"
	"  -P, --precision 32|16|8  bits per weight value (32, lossless)\n"
	"      --idle-max SECONDS   longest wait between polls, 1 to 86400 (300)\n"
	"      --cache DIR          shard cache ($G2T_CACHE or ~/.g2t-cache)\n"
	"      --no-cache           download both shards, keep nothing\n"
	"      --cacert FILE        CA certificates for a private server\n"
	"      --retry-max SECONDS  give up retrying a request after this long,\n"
	"                           0 to 86400 (60)\n"
	"      --stats FILE         at the end, write what was done and the time\n"
	"                           spent on the network and training to FILE\n"
	"  -h, --help               show this help\n"
	"  -V, --version            show the version\n";

enum { OPT_ONCE = OPT_FIRST_FREE, OPT_MIN_BATCH, OPT_MAX_BATCH, OPT_IDLE_MAX, OPT_CACHE,
       OPT_NO_CACHE, OPT_CACERT, OPT_RETRY_MAX, OPT_STATS };

static const struct option options[] = {
	{ "key", required_argument, NULL, 's' },
	{ "spool", required_argument, NULL, 'S' },
	{ "once", no_argument, NULL, OPT_ONCE },
	{ "jobs", required_argument, NULL, 'j' },
	{ "min-batch", required_argument, NULL, OPT_MIN_BATCH },
	{ "max-batch", required_argument, NULL, OPT_MAX_BATCH },
	{ "precision", required_argument, NULL, 'P' },
	{ "idle-max", required_argument, NULL, OPT_IDLE_MAX },
	{ "cache", required_argument, NULL, OPT_CACHE },
	{ "no-cache", no_argument, NULL, OPT_NO_CACHE },
	{ "cacert", required_argument, NULL, OPT_CACERT },
	{ "retry-max", required_argument, NULL, OPT_RETRY_MAX },
	{ "stats", required_argument, NULL, OPT_STATS },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static volatile sig_atomic_t stop;

/* The first SIGTERM or SIGINT finishes the step under way; a second one,
 * with the default action back, ends the process at once. */
static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESETHAND; /* no SA_RESTART: sleeps end at once */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

static void say(void *ctx, const char *line)
{
	(void)ctx;
	g2t_warn("%s", line);
}

static const char *from_env(const char *var, const char *dir, char *buf, size_t n)
{
	const char *env = getenv(var), *home = getenv("HOME");

	if (env && *env)
		return env;
	snprintf(buf, n, "%s/%s", home && *home ? home : ".", dir);
	return buf;
}

static int run(struct g2t_device_opts *o, const char *keyfile, const char *stats)
{
	struct g2t_diag d = { 0, -1, "" };
	struct g2t_device_stats st;
	struct g2t_signer *key = NULL;
	int rc;

	if ((rc = g2t_signer_load(&key, keyfile, &d)))
		return g2t_report(NULL, rc, &d);
	o->key = key;
	rc = g2t_device_run(o, &st, &d);
	g2t_signer_free(key);
	if (stats) {
		struct g2t_diag sd = { 0, -1, "" };
		int src = g2t_device_stats_write(stats, &st, &sd);

		if (src && !rc)
			return g2t_report(NULL, src, &sd);
	}
	if (rc && st.said) /* told as a change of state, or quiet as no change */
		return g2t_exit_code(rc);
	return rc ? g2t_report(NULL, rc, &d) : G2T_EXIT_OK;
}

int main(int argc, char **argv)
{
	static char spool[4096], cache[4096];
	struct g2t_device_opts o = { .min_batch = 1, .max_batch = 64, .jobs = 1,
	                             .idle_max = 300, .retry_max = 60, .stop = &stop,
	                             .say = say };
	const char *key = NULL, *stats = NULL;
	unsigned long v;
	int c, rc;

	g2t_cli_name(argv, "g2t-device");
	catch_signals();
	o.spool = from_env("G2T_SPOOL", ".g2t", spool, sizeof spool);
	o.cache = from_env("G2T_CACHE", ".g2t-cache", cache, sizeof cache);
	while ((c = getopt_long(argc, argv, "s:S:j:P:hV", options, NULL)) != -1) {
		switch (c) {
		case 's': key = optarg; break;
		case 'S': o.spool = optarg; break;
		case OPT_ONCE: o.once = 1; break;
		case OPT_CACHE: o.cache = optarg; break;
		case OPT_NO_CACHE: o.cache = NULL; break;
		case OPT_CACERT: o.cacert = optarg; break;
		case OPT_STATS: stats = optarg; break;
		case 'j':
			if (g2t_cli_ulong(optarg, 1, 1024, &v))
				return g2t_usage_error("--jobs takes a number from 1 to 1024, "
				                       "not '%s'", optarg);
			o.jobs = (unsigned)v;
			break;
		case 'P':
			if (g2t_cli_ulong(optarg, 8, 32, &v) || (v != 8 && v != 16 && v != 32))
				return g2t_usage_error("--precision takes 32, 16 or 8, not '%s'",
				                       optarg);
			o.precision = v == 32 ? G2T_PREC_F32 : v == 16 ? G2T_PREC_F16 : G2T_PREC_Q8;
			break;
		case OPT_MIN_BATCH:
		case OPT_MAX_BATCH:
			if (g2t_cli_ulong(optarg, 1, 1000000, &v))
				return g2t_usage_error("--%s takes a number from 1 to 1000000, "
				                       "not '%s'", c == OPT_MIN_BATCH ? "min-batch"
				                       : "max-batch", optarg);
			*(c == OPT_MIN_BATCH ? &o.min_batch : &o.max_batch) = (uint32_t)v;
			break;
		case OPT_IDLE_MAX:
		case OPT_RETRY_MAX:
			if (g2t_cli_ulong(optarg, c == OPT_IDLE_MAX, 86400, &v))
				return g2t_usage_error("--%s takes seconds, %d to 86400, not '%s'",
				                       c == OPT_IDLE_MAX ? "idle-max" : "retry-max",
				                       c == OPT_IDLE_MAX, optarg);
			*(c == OPT_IDLE_MAX ? &o.idle_max : &o.retry_max) = (long)v;
			break;
		case 'h': fputs(usage, stdout); return g2t_close_stdout(G2T_EXIT_OK);
		case 'V': g2t_print_version(); return g2t_close_stdout(G2T_EXIT_OK);
		default: return g2t_usage_error(NULL);
		}
	}
	if (!key)
		return g2t_usage_error("a secret key is needed (-s KEYFILE)");
	if (o.min_batch > o.max_batch)
		return g2t_usage_error("--min-batch is over --max-batch");
	if (argc - optind != 1)
		return g2t_usage_error("one server URL is needed");
	o.url = argv[optind];
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = run(&o, key, stats);
	curl_global_cleanup();
	return g2t_close_stdout(rc);
}
