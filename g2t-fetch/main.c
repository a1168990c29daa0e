/* g2t-fetch: lease tasks from a coordinator and write them out for g2t-train. */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli.h"

static const char usage[] =
	"usage: g2t-fetch -s KEYFILE [options] URL\n"
	"Lease a task (or up to 16) from the g2t-serve at URL, with a request\n"
	"signed by the device key, and write it with its class shards as one G2T\n"
	"stream.\n\n"
	"  -s, --key FILE           the device's secret key\n"
	"  -n, --tasks N            lease up to N tasks at once, 1 to 16 (1)\n"
	"      --cache DIR          shard cache ($G2T_CACHE or ~/.g2t-cache)\n"
	"      --no-cache           download both shards, keep nothing\n"
	"      --cacert FILE        CA certificates for a private server\n"
	"      --retry-max SECONDS  give up retrying a request after this long (60)\n"
	"      --limit-rate BYTES   bytes per second at most, each way\n"
	"  -o, --output FILE        write the task to FILE instead of stdout\n"
	"  -h, --help               show this help\n"
	"  -V, --version            show the version\n";

enum { OPT_CACHE = OPT_FIRST_FREE, OPT_NO_CACHE, OPT_CACERT, OPT_RETRY_MAX,
       OPT_LIMIT_RATE };

static const struct option options[] = {
	{ "key", required_argument, NULL, 's' },
	{ "tasks", required_argument, NULL, 'n' },
	{ "cache", required_argument, NULL, OPT_CACHE },
	{ "no-cache", no_argument, NULL, OPT_NO_CACHE },
	{ "cacert", required_argument, NULL, OPT_CACERT },
	{ "retry-max", required_argument, NULL, OPT_RETRY_MAX },
	{ "limit-rate", required_argument, NULL, OPT_LIMIT_RATE },
	{ "output", required_argument, NULL, 'o' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static const char *default_cache(void)
{
	static char path[4096];
	const char *env = getenv("G2T_CACHE"), *home = getenv("HOME");

	if (env && *env)
		return env;
	snprintf(path, sizeof path, "%s/.g2t-cache", home && *home ? home : ".");
	return path;
}

/* Leases and writes one task; returns the exit code. */
static int fetch(const struct g2t_fetch_opts *o, const char *keyfile, const char *output)
{
	struct g2t_diag d = { 0, -1, "" };
	struct g2t_fetch_result r;
	struct g2t_signer *key = NULL;
	struct g2t_out out;
	int rc;

	if ((rc = g2t_signer_load(&key, keyfile, &d)))
		return g2t_report(NULL, rc, &d);
	if ((rc = g2t_out_open(&out, output, &d))) {
		g2t_signer_free(key);
		return g2t_report(g2t_display_name(output), rc, &d);
	}
	rc = g2t_fetch_task(o, key, out.f, &r, &d);
	g2t_signer_free(key);
	if (r.warning[0])
		g2t_warn("%s", r.warning);
	if (!rc && (rc = g2t_out_commit(&out, &d))) {
		g2t_out_abort(&out);
		return g2t_report(output && strcmp(output, "-") ? output : "stdout", rc, &d);
	}
	g2t_out_abort(&out);
	if (rc && r.no_work) {
		if (r.complete)
			g2t_warn("all tasks are done");
		else if (r.retry_after > 0)
			g2t_warn("no work now (retry in %ld s)", r.retry_after);
		else
			g2t_warn("no work now");
		return G2T_EXIT_TEMPFAIL;
	}
	if (rc)
		return g2t_report(r.local ? NULL : o->url, rc, &d);
	return G2T_EXIT_OK;
}

int main(int argc, char **argv)
{
	struct g2t_fetch_opts o = { .connect_timeout = 10, .timeout = 60, .retry_max = 60,
	                            .count = 1 };
	const char *key = NULL, *output = NULL;
	unsigned long v;
	int c, rc, cache = 1;

	g2t_cli_name(argv, "g2t-fetch");
	o.cache = default_cache();
	while ((c = getopt_long(argc, argv, "s:n:o:hV", options, NULL)) != -1) {
		switch (c) {
		case 's': key = optarg; break;
		case 'n':
			if (g2t_cli_ulong(optarg, 1, G2T_FETCH_MAX, &v))
				return g2t_usage_error("--tasks takes a number from 1 to %d, not '%s'",
				                       G2T_FETCH_MAX, optarg);
			o.count = (unsigned)v;
			break;
		case 'o': output = optarg; break;
		case OPT_CACHE: o.cache = optarg; cache = 1; break;
		case OPT_NO_CACHE: cache = 0; break;
		case OPT_CACERT: o.cacert = optarg; break;
		case OPT_RETRY_MAX:
			if (g2t_cli_ulong(optarg, 0, 86400, &v))
				return g2t_usage_error("--retry-max takes seconds, 0 to 86400, not '%s'",
				                       optarg);
			o.retry_max = (long)v;
			break;
		case OPT_LIMIT_RATE:
			if (g2t_cli_ulong(optarg, 1, 1ul << 30, &v))
				return g2t_usage_error("--limit-rate takes bytes per second, "
				                       "1 to 1073741824, not '%s'", optarg);
			o.limit_rate = (long long)v;
			break;
		case 'h': fputs(usage, stdout); return g2t_close_stdout(G2T_EXIT_OK);
		case 'V': g2t_print_version(); return g2t_close_stdout(G2T_EXIT_OK);
		default: return g2t_usage_error(NULL);
		}
	}
	if (!key)
		return g2t_usage_error("a secret key is needed (-s KEYFILE)");
	if (argc - optind != 1)
		return g2t_usage_error("one server URL is needed");
	if ((rc = g2t_cli_binary_out(output)) >= 0)
		return rc;
	o.url = argv[optind];
	if (!cache)
		o.cache = NULL;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	o.output = output && strcmp(output, "-") ? output : "stdout";
	rc = fetch(&o, key, output);
	curl_global_cleanup();
	return g2t_close_stdout(rc);
}
