/* g2t-merge: verify weights and combine them into a voting model. */
#include <stdlib.h>

#include "cli.h"

static const char usage[] =
	"usage: g2t-merge [options] [FILE...]\n"
	"Check trained weights against their schema and write the model.\n\n"
	"  -o, --output FILE        write to FILE instead of stdout\n"
	"      --allow-partial      write a model even when pairs are missing\n"
	"      --progress           report progress on stderr\n"
	"  -h, --help               show this help\n"
	"  -V, --version            show the version\n";

static const struct option options[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "allow-partial", no_argument, NULL, OPT_ALLOW_PARTIAL },
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

static int merge(char **inputs, int n, const char *output, int allow_partial,
                 int progress)
{
	struct g2t_merge *m = g2t_merge_new();
	struct g2t_diag d = { 0, -1, "" };
	struct g2t_out out = { 0 };
	const char *bad = NULL;
	int rc = m ? G2T_OK : G2T_ENOMEM, i;

	for (i = 0; i < (n ? n : 1) && !rc; i++) {
		bad = g2t_display_name(n ? inputs[i] : NULL);
		if (progress)
			g2t_warn("reading %s", bad);
		rc = g2t_merge_add(m, n ? inputs[i] : NULL, &d);
	}
	if (!rc)
		rc = g2t_merge_build(m, &bad, &d);
	if (!rc && !complete_enough(m, allow_partial)) {
		g2t_merge_free(m);
		return G2T_EXIT_INCOMPLETE;
	}
	if (!rc && (rc = g2t_out_open(&out, output, &d)))
		bad = output;
	if (!rc)
		rc = g2t_merge_write(m, out.f, &d);
	if (!rc && (rc = g2t_out_commit(&out, &d)))
		bad = output ? output : "stdout";
	g2t_out_abort(&out);
	rc = rc ? g2t_report(bad, rc, &d) : G2T_EXIT_OK; /* bad may point into m */
	g2t_merge_free(m);
	return rc;
}

int main(int argc, char **argv)
{
	const char *output = NULL;
	int c, allow_partial = 0, progress = 0;

	g2t_prog = "g2t-merge";
	while ((c = getopt_long(argc, argv, "o:hV", options, NULL)) != -1) {
		switch (c) {
		case 'o': output = optarg; break;
		case OPT_ALLOW_PARTIAL: allow_partial = 1; break;
		case OPT_PROGRESS: progress = 1; break;
		case 'h': fputs(usage, stdout); return g2t_close_stdout(G2T_EXIT_OK);
		case 'V': g2t_print_version(); return g2t_close_stdout(G2T_EXIT_OK);
		default: return g2t_usage_error(NULL);
		}
	}
	return g2t_close_stdout(merge(argv + optind, argc - optind, output, allow_partial,
	                              g2t_cli_progress(progress)));
}
