/* g2t-pack: hold weights until the link is worth it, then sign and send them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli.h"

static const char usage[] =
	"usage: g2t-pack --keygen -p PUBFILE -s KEYFILE\n"
	"       g2t-pack -s KEYFILE [options] [FILE]\n"
	"Keep trained weights in a spool until W_t = 1/q of them are held, then pack\n"
	"them into one signed packet, written out or sent.\n\n"
	"  -s, --key FILE           the device's secret key\n"
	"  -p, --pub FILE           where --keygen writes the public key\n"
	"      --keygen             make a new key pair\n"
	"  -S, --spool DIR          spool directory ($G2T_SPOOL or ~/.g2t)\n"
	"  -q, --quality Q          network quality in (0,1] (measured by default)\n"
	"      --min-batch N        smallest W_t (1)\n"
	"      --max-batch N        largest W_t (64)\n"
	"  -P, --precision 32|16|8  bits per weight value (32, lossless)\n"
	"      --no-schema          leave the schema out (the receiver has it)\n"
	"      --flush              pack whatever is held now\n"
	"      --send URL           POST packets to URL/v1/results until acknowledged\n"
	"      --cacert FILE        CA certificates for a private server\n"
	"      --retry-max SECONDS  give up retrying after this long (120)\n"
	"  -o, --output FILE        write packets to FILE instead of stdout\n"
	"  -h, --help               show this help\n"
	"  -V, --version            show the version\n";

enum { OPT_KEYGEN = OPT_FIRST_FREE, OPT_MIN_BATCH, OPT_MAX_BATCH, OPT_FLUSH,
       OPT_SEND, OPT_CACERT, OPT_RETRY_MAX, OPT_NO_SCHEMA };

static const struct option options[] = {
	{ "key", required_argument, NULL, 's' },
	{ "pub", required_argument, NULL, 'p' },
	{ "keygen", no_argument, NULL, OPT_KEYGEN },
	{ "spool", required_argument, NULL, 'S' },
	{ "quality", required_argument, NULL, 'q' },
	{ "min-batch", required_argument, NULL, OPT_MIN_BATCH },
	{ "max-batch", required_argument, NULL, OPT_MAX_BATCH },
	{ "precision", required_argument, NULL, 'P' },
	{ "no-schema", no_argument, NULL, OPT_NO_SCHEMA },
	{ "flush", no_argument, NULL, OPT_FLUSH },
	{ "send", required_argument, NULL, OPT_SEND },
	{ "cacert", required_argument, NULL, OPT_CACERT },
	{ "retry-max", required_argument, NULL, OPT_RETRY_MAX },
	{ "output", required_argument, NULL, 'o' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

struct pack_opts {
	const char *key, *spool, *input, *output;
	double quality;                 /* 0: measure */
	unsigned long min_batch, max_batch;
	int precision, flush, no_schema;
	struct g2t_send_opts send;      /* send.url NULL: write packets out */
};

/* Reads all of FILE, or of stdin unless it is a terminal. */
static int read_input(const char *path, uint8_t **out, size_t *len, struct g2t_diag *d)
{
	FILE *f = path && strcmp(path, "-") ? fopen(path, "rb") : stdin;
	size_t cap = 0;
	int rc = G2T_OK;

	*out = NULL;
	*len = 0;
	if (!f)
		return g2t_fail(d, G2T_EIO, 0, -1, "%s", strerror(errno));
	if (!path && isatty(fileno(stdin)))
		return G2T_OK;
	for (;;) {
		size_t n;

		if (g2t_grow((void **)out, &cap, *len + 65536, 1)) {
			rc = G2T_ENOMEM;
			break;
		}
		n = fread(*out + *len, 1, cap - *len, f);
		*len += n;
		if (n == 0 || *len > G2T_SHARD_LIMIT)
			break;
	}
	if (ferror(f) || *len > G2T_SHARD_LIMIT)
		rc = g2t_fail(d, ferror(f) ? G2T_EIO : G2T_ETOOBIG, 0, -1, "%s",
		              ferror(f) ? strerror(errno) : "input too large");
	if (f != stdin)
		fclose(f);
	return rc;
}

/* Writes every waiting packet as one stream, then lets them go. */
static int write_out(struct g2t_spool *sp, const char *output, struct g2t_diag *d)
{
	const uint64_t *seq;
	size_t n = g2t_spool_pending(sp, &seq), i;
	struct g2t_out out;
	int rc = g2t_out_open(&out, output, d);

	if (!rc)
		rc = g2t_write_header(out.f);
	for (i = 0; i < n && !rc; i++) {
		uint8_t *p;
		size_t len;

		if (!(rc = g2t_spool_packet(sp, seq[i], &p, &len, d)))
			rc = g2t_write_record(out.f, G2T_REC_PACKET, p, (uint32_t)len);
		free(p);
	}
	if (!rc)
		rc = g2t_out_commit(&out, d);
	g2t_out_abort(&out);
	while (!rc && g2t_spool_pending(sp, &seq))
		rc = g2t_spool_packet_done(sp, seq[0], 0, d);
	return rc;
}

static void warn_refused(void *url, uint64_t seq, const char *why)
{
	g2t_warn("%s: %s (packet %llu kept aside as p-%020llu.refused)", (const char *)url,
	         why, (unsigned long long)seq, (unsigned long long)seq);
}

static int pack(const struct pack_opts *o)
{
	struct g2t_diag d = { 0, -1, "" };
	struct g2t_signer *key = NULL;
	struct g2t_spool *sp = NULL;
	const char *where = o->spool;
	const uint64_t *seq;
	uint8_t *in = NULL;
	size_t len;
	uint32_t added = 0, held, threshold;
	unsigned acked = 0, refused = 0;
	double q;
	int rc;

	if ((rc = g2t_signer_load(&key, o->key, &d)))
		return g2t_report(NULL, rc, &d);
	/* the spool's messages name the spool or its file */
	if ((rc = g2t_spool_open(&sp, o->spool, &d)) || (rc = g2t_spool_claim(sp, key->pk, &d)))
		where = NULL;
	if (!rc) {
		where = g2t_display_name(o->input);
		rc = read_input(o->input, &in, &len, &d);
	}
	if (!rc && len == 0 && !o->send.url && !o->flush)
		rc = g2t_fail(&d, G2T_EDATA, 0, -1, "empty input");
	if (!rc && len && (rc = g2t_spool_add(sp, in, len, &added, &d)) == G2T_EIO)
		where = NULL; /* storing failed: the message names the spool file */
	free(in);
	q = o->quality > 0 ? o->quality : sp ? g2t_link_quality(g2t_spool_link(sp)) : 1.0;
	threshold = g2t_batch_threshold(q, (uint32_t)o->min_batch, (uint32_t)o->max_batch);
	held = sp ? g2t_spool_held(sp) : 0;
	if (!rc)
		where = o->spool;
	if (!rc && held && (held >= threshold || o->flush)) {
		uint64_t s;
		rc = g2t_spool_pack(sp, key, o->precision, !o->no_schema, (uint64_t)time(NULL),
		                    &s, &d);
	}
	if (!rc && !g2t_spool_pending(sp, &seq)) {
		g2t_warn("held: %u of %u weight sets (q = %.2f)", held, threshold, q);
		g2t_spool_close(sp);
		g2t_signer_free(key);
		return G2T_EXIT_TEMPFAIL;
	}
	if (!rc) {
		struct g2t_send_opts send = o->send;

		send.key = key;
		where = o->send.url ? o->send.url : g2t_display_name(o->output);
		rc = o->send.url ? g2t_spool_send(sp, &send, warn_refused, (void *)o->send.url,
		                                  &acked, &refused, &d)
		                 : write_out(sp, o->output, &d);
	}
	g2t_spool_close(sp);
	g2t_signer_free(key);
	if (rc)
		return g2t_report(where, rc, &d);
	return refused ? g2t_exit_code(G2T_EREFUSED) : G2T_EXIT_OK;
}

static int keygen(const char *pub, const char *key)
{
	struct g2t_diag d = { 0, -1, "" };
	int rc;

	if (!pub || !key)
		return g2t_usage_error("--keygen needs -p PUBFILE and -s KEYFILE");
	rc = g2t_key_generate(pub, key, &d);
	return rc ? g2t_report(NULL, rc, &d) : G2T_EXIT_OK;
}

static const char *default_spool(void)
{
	static char path[4096];
	const char *env = getenv("G2T_SPOOL"), *home = getenv("HOME");

	if (env && *env)
		return env;
	snprintf(path, sizeof path, "%s/.g2t", home && *home ? home : ".");
	return path;
}

int main(int argc, char **argv)
{
	struct pack_opts o = { .min_batch = 1, .max_batch = 64,
	                       .send = { .connect_timeout = 10, .timeout = 60,
	                                 .retry_max = 120 } };
	const char *pub = NULL;
	unsigned long v;
	int c, make_keys = 0, rc;
	char *end;

	g2t_cli_name(argv, "g2t-pack");
	o.spool = default_spool();
	while ((c = getopt_long(argc, argv, "s:p:S:q:P:o:hV", options, NULL)) != -1) {
		switch (c) {
		case 's': o.key = optarg; break;
		case 'p': pub = optarg; break;
		case 'S': o.spool = optarg; break;
		case 'o': o.output = optarg; break;
		case OPT_KEYGEN: make_keys = 1; break;
		case OPT_FLUSH: o.flush = 1; break;
		case OPT_NO_SCHEMA: o.no_schema = 1; break;
		case OPT_SEND: o.send.url = optarg; break;
		case OPT_CACERT: o.send.cacert = optarg; break;
		case 'q':
			o.quality = strtod(optarg, &end);
			if (*end || !(o.quality > 0.0 && o.quality <= 1.0))
				return g2t_usage_error("--quality takes a number in (0, 1], not '%s'",
				                       optarg);
			break;
		case 'P':
			if (g2t_cli_ulong(optarg, 8, 32, &v) || (v != 8 && v != 16 && v != 32))
				return g2t_usage_error("--precision takes 32, 16 or 8, not '%s'", optarg);
			o.precision = v == 32 ? G2T_PREC_F32 : v == 16 ? G2T_PREC_F16 : G2T_PREC_Q8;
			break;
		case OPT_MIN_BATCH:
		case OPT_MAX_BATCH:
			if (g2t_cli_ulong(optarg, 1, 1000000, &v))
				return g2t_usage_error("--%s takes a number from 1 to 1000000, not '%s'",
				                       c == OPT_MIN_BATCH ? "min-batch" : "max-batch",
				                       optarg);
			*(c == OPT_MIN_BATCH ? &o.min_batch : &o.max_batch) = v;
			break;
		case OPT_RETRY_MAX:
			if (g2t_cli_ulong(optarg, 0, 86400, &v))
				return g2t_usage_error("--retry-max takes seconds, 0 to 86400, not '%s'",
				                       optarg);
			o.send.retry_max = (long)v;
			break;
		case 'h': fputs(usage, stdout); return g2t_close_stdout(G2T_EXIT_OK);
		case 'V': g2t_print_version(); return g2t_close_stdout(G2T_EXIT_OK);
		default: return g2t_usage_error(NULL);
		}
	}
	if (make_keys)
		return keygen(pub, o.key);
	if (!o.key)
		return g2t_usage_error("a secret key is needed (-s KEYFILE)");
	if (o.min_batch > o.max_batch)
		return g2t_usage_error("--min-batch is over --max-batch");
	if (argc - optind > 1)
		return g2t_usage_error("one input file at most");
	o.input = argv[optind];
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = pack(&o);
	curl_global_cleanup();
	return g2t_close_stdout(rc);
}
