/* g2t-predict: label rows with a one-vs-one model, or evaluate it. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum { OPT_VALUES = OPT_FIRST_FREE };

static const char usage[] =
	"usage: g2t-predict [options] MODEL [FILE]\n"
	"Print the predicted class of every row, or with --eval the accuracy.\n\n"
	"  -e, --eval               print accuracy and a confusion matrix\n"
	"      --values             after each class, every pair's decision value\n"
	"                           (columns named on a first line)\n"
	"      --probability        after each class, every class's probability\n"
	"                           (the class: the most probable); with --eval,\n"
	"                           the log-loss too\n"
	"      --dag                decision DAG: evaluate only K-1 classifiers\n"
	"  -d, --delimiter C        CSV field separator, or 'tab' (,)\n"
	"  -f, --format F           csv, svmlight or auto (auto)\n"
	"  -o, --output FILE        write to FILE instead of stdout\n"
	"  -h, --help               show this help\n"
	"  -V, --version            show the version\n";

static const struct option options[] = {
	{ "eval", no_argument, NULL, 'e' },
	{ "dag", no_argument, NULL, OPT_DAG },
	{ "values", no_argument, NULL, OPT_VALUES },
	{ "probability", no_argument, NULL, OPT_PROBABILITY },
	{ "delimiter", required_argument, NULL, 'd' },
	{ "format", required_argument, NULL, 'f' },
	{ "output", required_argument, NULL, 'o' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

/* Whether a file starts as gzip or text does: data given where the model goes. */
static int looks_like_data(const char *path)
{
	unsigned char b[2] = { 0, 0 };
	FILE *f = fopen(path, "rb");
	size_t n = f ? fread(b, 1, 2, f) : 0;

	if (f)
		fclose(f);
	return n == 2 && ((b[0] == 0x1f && b[1] == 0x8b) ||
	                  (b[0] >= ' ' && b[0] < 0x7f && b[1] >= ' ' && b[1] < 0x7f));
}

static int predict(const char *model, const char *input, const char *output,
                   const struct g2t_predict_opts *o)
{
	struct g2t_diag d = { 0, -1, "" };
	struct g2t_model *m = NULL;
	struct g2t_out out = { 0 };
	const char *bad = model;
	int rc = g2t_model_load(&m, model, &d);

	if (rc == G2T_EMAGIC && looks_like_data(model))
		g2t_fail(&d, rc, d.line, d.offset, "%s; it looks like a data file: the model "
		         "comes first (g2t-predict MODEL [FILE])", g2t_strerror(rc));

	if (!rc && (rc = g2t_out_open(&out, output, &d)))
		bad = output;
	if (!rc) {
		bad = g2t_display_name(input);
		rc = g2t_predict_file(m, input, o, out.f, &d);
	}
	if (!rc && (rc = g2t_out_commit(&out, &d)))
		bad = output ? output : "stdout";
	g2t_out_abort(&out);
	g2t_model_free(m);
	return rc ? g2t_report(bad, rc, &d) : G2T_EXIT_OK;
}

int main(int argc, char **argv)
{
	struct g2t_predict_opts o = { .text = { .delimiter = ',' } };
	const char *output = NULL;
	int c;

	g2t_cli_name(argv, "g2t-predict");
	while ((c = getopt_long(argc, argv, "ed:f:o:hV", options, NULL)) != -1) {
		switch (c) {
		case 'e': o.eval = 1; break;
		case OPT_DAG: o.dag = 1; break;
		case OPT_VALUES: o.values = 1; break;
		case OPT_PROBABILITY: o.probability = 1; break;
		case 'o': output = optarg; break;
		case 'd':
			if (g2t_cli_delimiter(optarg, &o.text.delimiter))
				return g2t_usage_error("--delimiter takes one character or 'tab', "
				                       "not '%s'", optarg);
			break;
		case 'f':
			if (g2t_cli_format(optarg, &o.text.format))
				return g2t_usage_error("--format takes csv, svmlight or auto, not '%s'",
				                       optarg);
			break;
		case 'h': fputs(usage, stdout); return g2t_close_stdout(G2T_EXIT_OK);
		case 'V': g2t_print_version(); return g2t_close_stdout(G2T_EXIT_OK);
		default: return g2t_usage_error(NULL);
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		return g2t_usage_error("expected MODEL [FILE]");
	if (!strcmp(argv[optind], "-") && (!argv[optind + 1] || !strcmp(argv[optind + 1], "-")))
		return g2t_usage_error("the model and the data cannot both be stdin: give FILE");
	if (o.dag && (o.values || o.probability))
		return g2t_usage_error("--dag evaluates K-1 pairs: not with --values or"
		                       " --probability");
	return g2t_close_stdout(predict(argv[optind], argv[optind + 1], output, &o));
}
