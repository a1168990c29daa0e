/* g2t-serial: train the tasks of a G2T stream on a device over a serial line. */
#include <stdlib.h>

#include "cli.h"
#include "serial.h"

static const char usage[] =
	"usage: g2t-serial [options] DEVICE\n"
	"Train every task of the G2T stream on stdin on the microcontroller at\n"
	"DEVICE (a tty at 115200 baud, a pty, or a Unix socket) and write its\n"
	"WEIGHTS records on stdout, as g2t-train would.\n\n"
	"  -o, --output FILE        write to FILE instead of stdout\n"
	"  -t, --timeout MS         wait MS milliseconds for each answer (2000)\n"
	"      --tries N            send a frame at most N times (5)\n"
	"      --stats              the device's profile and a line per task\n"
	"                           (rows, bytes on the wire) on stderr\n"
	"  -h, --help               show this help\n"
	"  -V, --version            show the version\n";

enum { OPT_TRIES = 256, OPT_STATS };
static const struct option options[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "timeout", required_argument, NULL, 't' },
	{ "tries", required_argument, NULL, OPT_TRIES },
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static int run(const struct g2t_serial_opts *o, const char *output)
{
	struct g2t_diag d = { 0, -1, "" };
	struct g2t_out out;
	int rc = g2t_out_open(&out, output, &d);

	if (rc)
		return g2t_report(output, rc, &d);
	rc = g2t_serial_run(o, stdin, out.f, &d);
	if (!rc && (rc = g2t_out_commit(&out, &d)))
		return g2t_out_abort(&out), g2t_report(output ? output : "stdout", rc, &d);
	g2t_out_abort(&out);
	return rc ? g2t_report(d.offset >= 0 ? "stdin" : NULL, rc, &d) : G2T_EXIT_OK;
}

int main(int argc, char **argv)
{
	struct g2t_serial_opts o = { .timeout_ms = 2000, .tries = 5 };
	const char *output = NULL;
	unsigned long v;
	int c;

	g2t_cli_name(argv, "g2t-serial");
	while ((c = getopt_long(argc, argv, "o:t:hV", options, NULL)) != -1) {
		switch (c) {
		case 'o': output = optarg; break;
		case 't':
			if (g2t_cli_ulong(optarg, 1, 600000, &v))
				return g2t_usage_error("--timeout takes milliseconds, 1 to 600000");
			o.timeout_ms = (int)v;
			break;
		case OPT_TRIES:
			if (g2t_cli_ulong(optarg, 1, 1000, &v))
				return g2t_usage_error("--tries takes a number from 1 to 1000");
			o.tries = (unsigned)v;
			break;
		case OPT_STATS: o.stats = stderr; break;
		case 'h': fputs(usage, stdout); return g2t_close_stdout(G2T_EXIT_OK);
		case 'V': g2t_print_version(); return g2t_close_stdout(G2T_EXIT_OK);
		default: return g2t_usage_error(NULL);
		}
	}
	if (argc - optind != 1)
		return g2t_usage_error("one DEVICE expected");
	o.device = argv[optind];
	if ((c = g2t_cli_binary_out(output)) >= 0)
		return c;
	return g2t_close_stdout(run(&o, output));
}
