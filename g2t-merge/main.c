/* g2t-merge: verify weights and combine them into a voting model. */
#include <stdlib.h>

#include "cli.h"

static const char usage[] =
	"usage: g2t-merge [options] [FILE...]\n"
	"Check trained weights against their schema and write the model.\n\n"
	"  -o, --output FILE        write to FILE instead of stdout\n"
	"      --allow-partial      write a model even when pairs are missing\n"
	"      --trust DIR|FILE     accept packets signed by these public keys\n"
	"      --allow-unsigned     with --trust, also accept raw weights\n"
	"      --progress           report progress on stderr\n"
	"  -h, --help               show this help\n"
	"  -V, --version            show the version\n";

enum { OPT_TRUST = OPT_FIRST_FREE, OPT_ALLOW_UNSIGNED };

/* What the command line asked for. */
struct merge_opts {
	const char *output;
	int allow_partial, progress, allow_unsigned;
	struct g2t_keyring trust;
	int trusting;               /* --trust was given */
};

static const struct option options[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "allow-partial", no_argument, NULL, OPT_ALLOW_PARTIAL },
	{ "trust", required_argument, NULL, OPT_TRUST },
	{ "allow-unsigned", no_argument, NULL, OPT_ALLOW_UNSIGNED },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

/* Reports missing pairs; whether the model may still be written. */
static int complete_enough(const struct g2t_merge *m, int allow_partial)
{
	char names[1024];
	long missing = g2t_merge_missing(m, names, sizeof names);

	if (missing)
		g2t_warn("%ld pair%s missing: %s", missing, missing > 1 ? "s" : "", names);
	return !missing || allow_partial;
}

/* Lists refused inputs; the exit code when the rest went well. */
static int report_refusals(const struct g2t_merge *m)
{
	const char *const *line;
	size_t n = g2t_merge_refusals(m, &line);

	for (size_t i = 0; i < n; i++)
		g2t_warn("%s", line[i]);
	return n ? G2T_EXIT_REFUSED : G2T_EXIT_OK;
}

static int merge(char **inputs, int n, const struct merge_opts *o)
{
	struct g2t_merge *m = g2t_merge_new();
	struct g2t_diag d = { 0, -1, "" };
	struct g2t_out out = { 0 };
	const char *bad = NULL;
	int rc = m ? G2T_OK : G2T_ENOMEM, i, code;

	if (m && o->trusting)
		g2t_merge_trust(m, &o->trust, o->allow_unsigned);
	for (i = 0; i < (n ? n : 1) && !rc; i++) {
		bad = g2t_display_name(n ? inputs[i] : NULL);
		if (o->progress)
			g2t_warn("reading %s", bad);
		rc = g2t_merge_add(m, n ? inputs[i] : NULL, &d);
	}
	if (!rc)
		rc = g2t_merge_build(m, &bad, &d);
	code = m ? report_refusals(m) : G2T_EXIT_OK;
	if (!rc && !complete_enough(m, o->allow_partial)) {
		g2t_merge_free(m);
		return G2T_EXIT_INCOMPLETE;
	}
	if (!rc && (rc = g2t_out_open(&out, o->output, &d)))
		bad = o->output;
	if (!rc && (rc = g2t_merge_write(m, out.f, &d)) && ferror(out.f))
		bad = o->output ? o->output : "stdout";
	if (!rc && (rc = g2t_out_commit(&out, &d)))
		bad = o->output ? o->output : "stdout";
	g2t_out_abort(&out);
	code = rc ? g2t_report(bad, rc, &d) : code; /* bad may point into m */
	g2t_merge_free(m);
	return code;
}

int main(int argc, char **argv)
{
	struct merge_opts o = { 0 };
	struct g2t_diag d = { 0, -1, "" };
	int c, rc;

	g2t_cli_name(argv, "g2t-merge");
	while ((c = getopt_long(argc, argv, "o:hV", options, NULL)) != -1) {
		switch (c) {
		case 'o': o.output = optarg; break;
		case OPT_ALLOW_PARTIAL: o.allow_partial = 1; break;
		case OPT_ALLOW_UNSIGNED: o.allow_unsigned = 1; break;
		case OPT_PROGRESS: o.progress = 1; break;
		case OPT_TRUST:
			o.trusting = 1;
			if ((rc = g2t_keyring_add(&o.trust, optarg, &d))) {
				g2t_keyring_clear(&o.trust);
				return g2t_report(NULL, rc, &d);
			}
			break;
		case 'h': fputs(usage, stdout); return g2t_close_stdout(G2T_EXIT_OK);
		case 'V': g2t_print_version(); return g2t_close_stdout(G2T_EXIT_OK);
		default: return g2t_usage_error(NULL);
		}
	}
	if ((rc = g2t_cli_binary_out(o.output)) >= 0) {
		g2t_keyring_clear(&o.trust);
		return rc;
	}
	o.progress = g2t_cli_progress(o.progress);
	rc = merge(argv + optind, argc - optind, &o);
	g2t_keyring_clear(&o.trust);
	return g2t_close_stdout(rc);
}
