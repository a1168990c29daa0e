/* g2t-train: train every task of G2T streams into WEIGHTS records. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum { OPT_STATS = OPT_FIRST_FREE, OPT_CV, OPT_GRID };

static const char usage[] =
	"usage: g2t-train [options] [FILE...]\n"
	"Train a linear binary classifier for every task in the input streams.\n\n"
	"  -j, --jobs N             train N tasks at once (1)\n"
	"  -t, --task N             train only task N\n"
	"  -o, --output FILE        write to FILE instead of stdout\n"
	"      --progress           report progress on stderr\n"
	"      --stats              a line per task on stderr: its rows, passes, for\n"
	"                           dcd primal and dual objective and gap, and C\n"
	"      --cv K --grid C1,C2,...  each task's C: the one of the grid with the\n"
	"                           best K-fold held-out accuracy on its rows\n"
	"                           (2 <= K <= 100, at most 32 values)\n"
	"  -c C                     the same as --cost C\n"
	G2T_CLI_PARAM_HELP
	"                           (given options override the tasks' own; -w\n"
	"                           and --balanced replace every class weight)\n"
	"  -h, --help               show this help\n"
	"  -V, --version            show the version\n";

static const struct option longopts[] = {
	{ "jobs", required_argument, NULL, 'j' },
	{ "task", required_argument, NULL, 't' },
	{ "output", required_argument, NULL, 'o' },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "cv", required_argument, NULL, OPT_CV },
	{ "grid", required_argument, NULL, OPT_GRID },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	G2T_CLI_PARAM_OPTIONS,
	{ NULL, 0, NULL, 0 }
};

static int train(const char *const *inputs, int n, const char *output,
                 const struct g2t_train_opts *o)
{
	struct g2t_diag d = { 0, -1, "" };
	struct g2t_out out;
	const char *bad = NULL;
	int rc = g2t_out_open(&out, output, &d);

	if (rc)
		return g2t_report(output, rc, &d);
	rc = g2t_train_files(inputs, n, o, out.f, &bad, &d);
	if (rc && ferror(out.f)) /* writing the output failed */
		bad = output ? output : "stdout";
	if (!rc && (rc = g2t_out_commit(&out, &d)))
		bad = output ? output : "stdout";
	g2t_out_abort(&out);
	return rc ? g2t_report(bad, rc, &d) : G2T_EXIT_OK;
}

/* --grid C1,C2,...: 0 or -1. */
static int grid(const char *arg, struct g2t_train_opts *o)
{
	unsigned set = 0;
	char buf[32];
	struct g2t_params p;

	for (o->grid_n = 0; *arg; o->grid_n++) {
		size_t n = strcspn(arg, ",");

		if (o->grid_n == G2T_GRID_MAX || n == 0 || n >= sizeof buf)
			return -1;
		memcpy(buf, arg, n);
		buf[n] = 0;
		if (g2t_cli_param(OPT_COST, buf, &p, &set) != 1)
			return -1;
		o->grid[o->grid_n] = p.cost;
		arg += n + (arg[n] == ',');
	}
	return o->grid_n ? 0 : -1;
}

/* The options into o and *output: -1 to go on, or an exit code. */
static int options(int argc, char **argv, struct g2t_train_opts *o, const char **output)
{
	unsigned long v;
	int c, progress = 0;

	while ((c = getopt_long(argc, argv, "j:t:o:c:w:hV", longopts, NULL)) != -1) {
		if (c == 'c') /* LIBSVM's and LIBLINEAR's letter */
			c = OPT_COST;
		switch (c) {
		case 'j':
			if (g2t_cli_ulong(optarg, 1, 1024, &v))
				return g2t_usage_error("--jobs takes a number from 1 to 1024, not '%s'", optarg);
			o->jobs = (unsigned)v;
			break;
		case 't':
			if (g2t_cli_ulong(optarg, 0, UINT32_MAX, &v))
				return g2t_usage_error("--task takes a task number, not '%s'", optarg);
			o->task = (long)v;
			break;
		case 'o': *output = optarg; break;
		case OPT_PROGRESS: progress = 1; break;
		case OPT_STATS: o->stats = stderr; break;
		case OPT_CV:
			if (g2t_cli_ulong(optarg, 2, 100, &v))
				return g2t_usage_error("--cv takes a number K from 2 to 100, not '%s'",
				                       optarg);
			o->cv = (uint32_t)v;
			break;
		case OPT_GRID:
			if (grid(optarg, o))
				return g2t_usage_error("--grid takes 1 to %d values C, 0 < C < 1e6, "
				                       "comma-separated, not '%s'", G2T_GRID_MAX, optarg);
			break;
		case 'h': fputs(usage, stdout); return g2t_close_stdout(G2T_EXIT_OK);
		case 'V': g2t_print_version(); return g2t_close_stdout(G2T_EXIT_OK);
		default:
			if (g2t_cli_param(c, optarg, &o->params, &o->override) == 1 ||
			    g2t_cli_weighting(c, optarg, &o->weighting, &o->override) == 1)
				break;
			return c == '?' ? g2t_usage_error(NULL)
			                : g2t_usage_error("%s, not '%s'", g2t_cli_param_range(c),
			                                  optarg);
		}
	}
	if (!o->cv != !o->grid_n)
		return g2t_usage_error("--cv and --grid go together");
	if (o->params.algo == G2T_ALGO_FIXED && (o->override & G2T_OVERRIDE_ALGO) && o->cv)
		return g2t_usage_error("--algo fixed takes no --cv");
	if (o->params.algo == G2T_ALGO_FIXED && (o->override & G2T_OVERRIDE_ALGO) &&
	    (g2t_weighting_set(&o->weighting) || o->params.probability))
		return g2t_usage_error("--algo fixed takes no class weights (-w, --balanced)"
		                       " and no --probability");
	if ((c = g2t_cli_binary_out(*output)) >= 0)
		return c;
	o->progress = g2t_cli_progress(progress);
	return -1;
}

int main(int argc, char **argv)
{
	struct g2t_train_opts o = { .jobs = 1, .task = -1 };
	const char *output = NULL;
	int rc;

	g2t_cli_name(argv, "g2t-train");
	g2t_params_host_default(&o.params);
	if ((rc = options(argc, argv, &o, &output)) < 0)
		rc = g2t_close_stdout(train((const char *const *)argv + optind,
		                            argc - optind, output, &o));
	g2t_weighting_free(&o.weighting);
	return rc;
}
