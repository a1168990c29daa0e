/* g2t-split: text data to a G2T stream of class shards and one-vs-one tasks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

enum { OPT_OVR = OPT_FIRST_FREE };

static const char usage[] =
	"usage: g2t-split [options] [FILE]\n"
	"Turn a CSV or svmlight file into K(K-1)/2 one-vs-one training tasks\n"
	"(or K one-vs-rest ones).\n\n"
	"  -l, --label NAME|N       label column (default: the last)\n"
	"  -d, --delimiter C        CSV field separator, or 'tab' (,)\n"
	"  -f, --format F           csv, svmlight or auto (auto)\n"
	"  -c, --classes A,B,...    keep only these classes\n"
	"  -q, --quantize 8|32      bits per stored value (32; 8 with --algo fixed)\n"
	"  -o, --output DIR         one self-contained file per task in DIR\n"
	"      --ovr                K one-vs-rest tasks instead (with 3 classes or more)\n"
	"      --progress           report progress on stderr\n"
	G2T_CLI_PARAM_HELP
	"  -h, --help               show this help\n"
	"  -V, --version            show the version\n";

static const struct option longopts[] = {
	{ "label", required_argument, NULL, 'l' },
	{ "delimiter", required_argument, NULL, 'd' },
	{ "format", required_argument, NULL, 'f' },
	{ "classes", required_argument, NULL, 'c' },
	{ "quantize", required_argument, NULL, 'q' },
	{ "output", required_argument, NULL, 'o' },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "ovr", no_argument, NULL, OPT_OVR },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	G2T_CLI_PARAM_OPTIONS,
	{ NULL, 0, NULL, 0 }
};

/* The progress line while the input is read. */
struct reading {
	const char *name;
	double start, shown;        /* monotonic seconds */
};

static double seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "g2t-split: FILE: 12288 rows, 1.2 of 3.4 MB (35 %), about 4 s left",
 * rewritten in place at most four times a second; a last line at the end. */
static void show_reading(void *ctx, unsigned long long rows, long long read,
                         long long size, int end)
{
	struct reading *r = ctx;
	double now = seconds(), mb = 1e6;

	if (!end && now - r->shown < 0.25)
		return;
	r->shown = now;
	if (end) {
		fprintf(stderr, "\r%s: %s: %llu rows, %.1f MB in %.1f s%20s\n", g2t_prog, r->name,
		        rows, (double)read / mb, now - r->start, "");
		return;
	}
	fprintf(stderr, "\r%s: %s: %llu rows, %.1f", g2t_prog, r->name, rows, (double)read / mb);
	if (size > 0 && read > 0 && read <= size)
		fprintf(stderr, " of %.1f MB (%.0f %%), about %.0f s left", (double)size / mb,
		        100.0 * (double)read / (double)size,
		        (now - r->start) * (double)(size - read) / (double)read);
	else
		fputs(" MB", stderr);
	fputs("   ", stderr);
}

/* Features that the reading or the scaling leave with little to tell apart. */
static void warn_scaling(const struct g2t_dataset *ds, const char *name)
{
	float lo, hi, step, m;
	const char *feature = g2t_dataset_coarse(ds, &lo, &hi, &step);

	if (feature)
		g2t_warn("warning: %s: feature '%s': its values, from %.10g to %.10g, were "
		         "rounded to binary32 steps of %g (%.0f from lowest to highest): "
		         "subtract about %.3g from them before splitting, or give them in a "
		         "file by name, read then less an offset in binary64", name, feature,
		         (double)lo, (double)hi, (double)step, (double)((hi - lo) / step),
		         (double)lo);
	if ((feature = g2t_dataset_squashed(ds, &lo, &hi))) {
		m = fabsf(lo) > fabsf(hi) ? fabsf(lo) : fabsf(hi);
		g2t_warn("warning: %s: feature '%s' is never 0, from %g to %g: a sparse set "
		         "scales it by 1/%g, into [%.3g, %.3g], where it weighs little: subtract "
		         "about %g from it before splitting", name, feature, (double)lo,
		         (double)hi, (double)m, (double)(lo / m), (double)(hi / m), (double)lo);
	}
}

static int split(const char *input, const char *dir, struct g2t_split_opts *o,
                 int progress)
{
	struct g2t_dataset *ds = NULL;
	struct g2t_diag d = { 0, -1, "" };
	const char *name = g2t_display_name(input);
	struct reading reading = { name, seconds(), 0.0 };
	int rc;

	if (progress) {
		o->progress = show_reading;
		o->progress_ctx = &reading;
	}
	rc = g2t_dataset_load(&ds, input, o, &d);
	if (ds && g2t_dataset_labels_continuous(ds)) /* said even if loading failed */
		g2t_warn("warning: %s: the label column holds %u different numbers, not all "
		         "whole: is it a feature? name the label column with --label",
		         name, g2t_dataset_classes(ds));
	if (rc) {
		g2t_dataset_free(ds);
		return g2t_report(rc == G2T_EPARAM ? NULL : name, rc, &d);
	}
	warn_scaling(ds, name);
	if (progress) {
		uint32_t K = g2t_dataset_classes(ds);
		g2t_warn("%u classes: writing %u tasks", K, g2t_dataset_tasks(ds));
	}
	rc = dir ? g2t_split_dir(ds, dir, &d) : g2t_split_stream(ds, stdout);
	if (!rc && dir) {
		uint32_t first, stale = g2t_split_dir_stale(dir, g2t_dataset_tasks(ds), &first);

		if (stale)
			g2t_warn("warning: %s: %u task file%s from another split, task %u on, "
			         "%s there too: remove %s before training the directory", dir,
			         stale, stale > 1 ? "s" : "", first, stale > 1 ? "are" : "is",
			         stale > 1 ? "them" : "it");
	}
	g2t_dataset_free(ds);
	return rc ? g2t_report(dir ? NULL : "stdout", rc, &d) : G2T_EXIT_OK;
}

/* The options into o, *dir and *progress: -1 to go on, or an exit code. */
static int options(int argc, char **argv, struct g2t_split_opts *o, const char **dir,
                   int *progress)
{
	unsigned long q = 0;
	unsigned set = 0;
	int c;

	while ((c = getopt_long(argc, argv, "l:d:f:c:q:o:w:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'l': o->text.label = optarg; break;
		case 'c': o->classes = optarg; break;
		case 'o': *dir = optarg; break;
		case OPT_PROGRESS: *progress = 1; break;
		case OPT_OVR: o->ovr = 1; break;
		case 'd':
			if (g2t_cli_delimiter(optarg, &o->text.delimiter))
				return g2t_usage_error("--delimiter takes one character or 'tab', "
				                       "not '%s'", optarg);
			break;
		case 'f':
			if (g2t_cli_format(optarg, &o->text.format))
				return g2t_usage_error("--format takes csv, svmlight or auto, not '%s'",
				                       optarg);
			break;
		case 'q':
			if (g2t_cli_ulong(optarg, 8, 32, &q) || (q != 8 && q != 32))
				return g2t_usage_error("--quantize takes 8 or 32, not '%s'", optarg);
			break;
		case 'h': fputs(usage, stdout); return g2t_close_stdout(G2T_EXIT_OK);
		case 'V': g2t_print_version(); return g2t_close_stdout(G2T_EXIT_OK);
		default:
			if (g2t_cli_param(c, optarg, &o->params, &set) == 1 ||
			    g2t_cli_weighting(c, optarg, &o->weighting, &set) == 1)
				break;
			return c == '?' ? g2t_usage_error(NULL)
			                : g2t_usage_error("%s, not '%s'", g2t_cli_param_range(c),
			                                  optarg);
		}
	}
	if (argc - optind > 1)
		return g2t_usage_error("one input file at most");
	if (!*dir && (c = g2t_cli_binary_out(NULL)) >= 0)
		return c;
	g2t_params_settle(&o->params, set, G2T_ALGO_DCD);
	if (o->params.algo == G2T_ALGO_FIXED) {
		/* fixed point trains on the bytes of 8-bit rows */
		if (q == 32)
			return g2t_usage_error("--algo fixed needs 8-bit rows (-q 8)");
		if (g2t_weighting_set(&o->weighting) || o->params.probability)
			return g2t_usage_error("--algo fixed takes no class weights (-w, --balanced)"
			                       " and no --probability");
		q = 8;
	}
	if (o->ovr && o->params.probability)
		return g2t_usage_error("--ovr fits no probability sigmoid: pairwise coupling "
		                       "is for one-vs-one pairs");
	if (g2t_params_check(&o->params))
		return g2t_usage_error("--algo %s takes no --l1%s",
		                       o->params.algo == G2T_ALGO_FIXED ? "fixed" : "dcd",
		                       o->params.algo == G2T_ALGO_FIXED ? ", and hinge loss" : "");
	if (q)
		o->quantize = (int)q;
	return -1;
}

int main(int argc, char **argv)
{
	struct g2t_split_opts o = { .text = { .delimiter = ',' }, .quantize = 32 };
	const char *dir = NULL;
	int rc, progress = 0;

	g2t_cli_name(argv, "g2t-split");
	g2t_params_host_default(&o.params);
	if ((rc = options(argc, argv, &o, &dir, &progress)) < 0)
		rc = g2t_close_stdout(split(argv[optind], dir, &o, g2t_cli_progress(progress)));
	g2t_weighting_free(&o.weighting);
	return rc;
}
