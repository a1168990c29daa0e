/*
 * cli.h - what every g2t program's front end shares: diagnostics in one
 * format, the training options, number parsing and closing stdout.
 */
#ifndef G2T_CLI_H
#define G2T_CLI_H

#include <getopt.h>

#include "g2t.h"

/* Long-only options shared by g2t-split and g2t-train. */
enum {
	OPT_LOSS = 256, OPT_ALGO, OPT_COST, OPT_L1, OPT_EPOCHS, OPT_SEED,
	OPT_BALANCED, OPT_PROBABILITY, OPT_PROGRESS, OPT_DAG, OPT_ALLOW_PARTIAL, OPT_FIRST_FREE
};
#define G2T_CLI_PARAM_OPTIONS \
	{ "loss", required_argument, NULL, OPT_LOSS }, \
	{ "algo", required_argument, NULL, OPT_ALGO }, \
	{ "cost", required_argument, NULL, OPT_COST }, \
	{ "l1", required_argument, NULL, OPT_L1 }, \
	{ "epochs", required_argument, NULL, OPT_EPOCHS }, \
	{ "seed", required_argument, NULL, OPT_SEED }, \
	{ "weight", required_argument, NULL, 'w' }, \
	{ "balanced", no_argument, NULL, OPT_BALANCED }, \
	{ "probability", no_argument, NULL, OPT_PROBABILITY }
#define G2T_CLI_PARAM_HELP \
	"      --loss hinge|logistic|sqhinge   loss function (dcd: sqhinge;\n" \
	"                           SGD: hinge)\n" \
	"      --algo dcd|asgd|pegasos|fixed  the exact solver, dual coordinate\n" \
	"                           descent (dcd); for devices, averaged SGD,\n" \
	"                           Pegasos, or averaged SGD in fixed point over\n" \
	"                           8-bit rows\n" \
	"      --cost C             the cost C > 0 of a training error; SGD's L2\n" \
	"                           strength is 1/(C n) for n rows (1)\n" \
	"      --l1 X               L1 strength, truncated gradient (0)\n" \
	"      --epochs N           dcd: most passes over the rows (1000); SGD:\n" \
	"                           passes (20)\n" \
	"      --seed N             shuffle seed (1)\n" \
	"  -w, --weight CLASS=W     the losses of CLASS's rows count W times,\n" \
	"                           0 < W < 1e6 (LIBSVM's -wi); repeatable (1)\n" \
	"      --balanced           classes not given by -w weigh n / (K n_c),\n" \
	"                           n rows, K classes, n_c rows of the class\n" \
	"      --probability        fit each task's Platt sigmoid on 5 held-out\n" \
	"                           folds, for g2t-predict --probability\n"

/* The program's name, for messages. */
extern const char *g2t_prog;
/* Sets it, for getopt's messages too (they name argv[0]). */
void g2t_cli_name(char **argv, const char *name);
/* A binary stream bound for stdout when stdout is a terminal: refused as a
 * usage error, as gzip does; -1 to go on. */
int g2t_cli_binary_out(const char *output);

/* prog: what (printf-style). */
void g2t_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* prog: file:line: what, or prog: file: byte N: what; returns the exit code. */
int g2t_report(const char *file, int status, const struct g2t_diag *d);
/* Usage error: message (NULL: none), "try --help"; returns G2T_EXIT_USAGE. */
int g2t_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void g2t_print_version(void);

/* Handles a shared training option; 1 handled, 0 not ours, -1 bad value
 * (whose message g2t_cli_param_range() gives). */
int g2t_cli_param(int opt, const char *arg, struct g2t_params *p, unsigned *set);
/* The same for -w and --balanced; G2T_ENOMEM as -2. */
int g2t_cli_weighting(int opt, const char *arg, struct g2t_weighting *w, unsigned *set);
/* What a shared training option takes, naming it: for usage errors. */
const char *g2t_cli_param_range(int opt);
/* Whole unsigned number in [min, max]; 0 or -1. */
int g2t_cli_ulong(const char *s, unsigned long min, unsigned long max,
                  unsigned long *out);
/* Text options: --delimiter and --format values; 0 or -1. */
int g2t_cli_delimiter(const char *arg, char *out);
int g2t_cli_format(const char *arg, int *out);
/* Whether progress goes to stderr: asked for, or stderr is a terminal. */
int g2t_cli_progress(int asked);
/* Closes stdout and reports a failure to write it; returns an exit code. */
int g2t_close_stdout(int code);

#endif
