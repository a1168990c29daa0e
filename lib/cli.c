/* Front-end helpers shared by the g2t programs. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

const char *g2t_prog = "g2t";

void g2t_warn(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", g2t_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int g2t_report(const char *file, int status, const struct g2t_diag *d)
{
	const char *what = d && d->what[0] ? d->what : g2t_strerror(status);

	if (!file)
		g2t_warn("%s", what);
	else if (d && d->line > 0)
		g2t_warn("%s:%ld: %s", file, d->line, what);
	else if (d && d->offset >= 0)
		g2t_warn("%s: byte %lld: %s", file, d->offset, what);
	else
		g2t_warn("%s: %s", file, what);
	return g2t_exit_code(status);
}

/* An output's temporary file goes with the process that an interrupt ends. */
static void end_by_signal(int sig)
{
	g2t_out_remove_temps();
	signal(sig, SIG_DFL);
	raise(sig);
}

void g2t_cli_name(char **argv, const char *name)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa, old;

	g2t_prog = name;
	argv[0] = (char *)name;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = end_by_signal;
	sigemptyset(&sa.sa_mask);
	/* an ignored signal (nohup, a background job) stays ignored; programs
	 * with their own handlers set them after this */
	for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL)
			sigaction(sigs[i], &sa, NULL);
}

int g2t_cli_binary_out(const char *output)
{
	if ((!output || !strcmp(output, "-")) && isatty(STDOUT_FILENO))
		return g2t_usage_error("not writing a binary stream to a terminal: redirect"
		                       " it, or give -o FILE");
	return -1;
}

int g2t_usage_error(const char *fmt, ...)
{
	va_list ap;

	if (fmt) { /* NULL: getopt_long has said what was wrong */
		fprintf(stderr, "%s: ", g2t_prog);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	fprintf(stderr, "Try '%s --help' for more information.\n", g2t_prog);
	return G2T_EXIT_USAGE;
}

void g2t_print_version(void)
{
	printf("%s (g2t) %s, G2T stream format %u\n", g2t_prog, G2T_VERSION_STRING,
	       G2T_FORMAT_VERSION);
}

int g2t_cli_ulong(const char *s, unsigned long min, unsigned long max,
                  unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int positive_float(const char *s, int zero_ok, float *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	/* a C below binary32's range would be stored as 0 */
	if (end == s || *end || errno || !isfinite(v) || v < 0 ||
	    (!zero_ok && (float)v == 0.0f) || v >= 1e6)
		return -1;
	*out = (float)v;
	return 0;
}

static int pick(const char *arg, const char *const *names, uint32_t n, uint32_t *out)
{
	for (uint32_t i = 0; i < n; i++)
		if (!strcmp(arg, names[i]))
			return *out = i, 0;
	return -1;
}

int g2t_cli_param(int opt, const char *arg, struct g2t_params *p, unsigned *set)
{
	static const char *const loss[] = { "hinge", "logistic", "sqhinge" };
	static const char *const algo[] = { "asgd", "pegasos", "fixed", "dcd" };
	unsigned long v;
	int rc;

	switch (opt) {
	case OPT_LOSS:
		rc = pick(arg, loss, 3, &p->loss);
		*set |= G2T_OVERRIDE_LOSS;
		break;
	case OPT_ALGO:
		rc = pick(arg, algo, 4, &p->algo);
		*set |= G2T_OVERRIDE_ALGO;
		break;
	case OPT_COST:
		rc = positive_float(arg, 0, &p->cost);
		*set |= G2T_OVERRIDE_COST;
		break;
	case OPT_L1:
		rc = positive_float(arg, 1, &p->l1);
		*set |= G2T_OVERRIDE_L1;
		break;
	case OPT_EPOCHS:
		rc = g2t_cli_ulong(arg, 1, 100000, &v);
		p->epochs = (uint32_t)v;
		*set |= G2T_OVERRIDE_EPOCHS;
		break;
	case OPT_SEED:
		rc = g2t_cli_ulong(arg, 0, UINT32_MAX, &v);
		p->seed = (uint32_t)v;
		*set |= G2T_OVERRIDE_SEED;
		break;
	case OPT_PROBABILITY:
		p->probability = 1;
		*set |= G2T_OVERRIDE_PROBABILITY;
		return 1;
	default:
		return 0;
	}
	return rc ? -1 : 1;
}

int g2t_cli_weighting(int opt, const char *arg, struct g2t_weighting *w, unsigned *set)
{
	int rc = G2T_OK;

	if (opt == OPT_BALANCED)
		w->balanced = 1;
	else if (opt == 'w')
		rc = g2t_weighting_add(w, arg);
	else
		return 0;
	*set |= G2T_OVERRIDE_WEIGHTS;
	return rc == G2T_ENOMEM ? -2 : rc ? -1 : 1;
}

const char *g2t_cli_param_range(int opt)
{
	switch (opt) {
	case 'w': return "-w takes CLASS=W, each class once, with 0 < W < 1e6";
	case OPT_LOSS: return "--loss takes hinge, logistic or sqhinge";
	case OPT_ALGO: return "--algo takes asgd, pegasos, fixed or dcd";
	case OPT_COST: return "--cost takes a number C with 0 < C < 1e6";
	case OPT_L1: return "--l1 takes a number with 0 <= X < 1e6";
	case OPT_EPOCHS: return "--epochs takes a number from 1 to 100000";
	default: return "--seed takes a number from 0 to 4294967295";
	}
}

int g2t_cli_delimiter(const char *arg, char *out)
{
	if (!strcmp(arg, "tab") || !strcmp(arg, "\\t"))
		return *out = '\t', 0;
	if (strlen(arg) != 1 || *arg == '"' || *arg == '\n' || *arg == '\r')
		return -1;
	*out = *arg;
	return 0;
}

int g2t_cli_format(const char *arg, int *out)
{
	static const char *const names[] = { "auto", "csv", "svmlight" };
	uint32_t v;

	if (pick(arg, names, 3, &v))
		return -1;
	*out = (int)v;
	return 0;
}

int g2t_cli_progress(int asked)
{
	return asked || isatty(STDERR_FILENO);
}

int g2t_close_stdout(int code)
{
	if (fclose(stdout) != 0 && code == G2T_EXIT_OK) {
		g2t_warn("stdout: %s", strerror(errno));
		return G2T_EXIT_FAIL;
	}
	return code;
}
