/* g2t-serve: hand out one-vs-one tasks over HTTP and collect the results. */
#include <arpa/inet.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char usage[] =
	"usage: g2t-serve --tasks DIR|FILE --state DIR [options]\n"
	"Lease training tasks to devices, verify and keep their results, and serve\n"
	"the model once every task is done; the operator's page is at /.\n\n"
	"  -t, --tasks PATH         task files from g2t-split (repeatable)\n"
	"  -S, --state DIR          durable state (SQLite) directory\n"
	"  -l, --listen ADDR:PORT   where to listen (127.0.0.1:8080; port 0: any)\n"
	"  -d, --devices PATH       public keys allowed to work (repeatable; SIGHUP\n"
	"                           reads them again)\n"
	"      --open               enrol any key on first use\n"
	"      --tls-cert FILE      serve HTTPS with this certificate...\n"
	"      --tls-key FILE       ...and this key\n"
	"      --lease-timeout S    seconds a device has for a task (300)\n"
	"      --replicas R         distinct devices whose results must agree (1)\n"
	"      --no-backups         no second lease on a task still leased when\n"
	"                           nothing else is left\n"
	"      --rate N             requests per second per device (50)\n"
	"      --rate-per-address N signed requests per second per client address (500)\n"
	"      --threads N          HTTP threads (one per core)\n"
	"      --max-connections N  open connections at most (4096)\n"
	"      --per-ip N           connections per client address (64)\n"
	"      --port-file FILE     write the port listened on to FILE\n"
	"  -h, --help               show this help\n"
	"  -V, --version            show the version\n";

enum { OPT_OPEN = OPT_FIRST_FREE, OPT_TLS_CERT, OPT_TLS_KEY, OPT_LEASE, OPT_REPLICAS,
       OPT_NO_BACKUPS, OPT_RATE, OPT_ADDRESS_RATE, OPT_THREADS, OPT_MAX_CONN, OPT_PER_IP, OPT_PORT_FILE };

static const struct option options[] = {
	{ "tasks", required_argument, NULL, 't' },
	{ "state", required_argument, NULL, 'S' },
	{ "listen", required_argument, NULL, 'l' },
	{ "devices", required_argument, NULL, 'd' },
	{ "open", no_argument, NULL, OPT_OPEN },
	{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
	{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
	{ "lease-timeout", required_argument, NULL, OPT_LEASE },
	{ "replicas", required_argument, NULL, OPT_REPLICAS },
	{ "no-backups", no_argument, NULL, OPT_NO_BACKUPS },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "rate-per-address", required_argument, NULL, OPT_ADDRESS_RATE },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "max-connections", required_argument, NULL, OPT_MAX_CONN },
	{ "per-ip", required_argument, NULL, OPT_PER_IP },
	{ "port-file", required_argument, NULL, OPT_PORT_FILE },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

/* ADDR:PORT with a dotted IPv4 address; 0 or -1. */
static int parse_listen(const char *arg, struct g2t_serve_opts *o)
{
	const char *colon = strrchr(arg, ':');
	char host[64];
	unsigned long port;
	struct in_addr a;

	if (!colon || (size_t)(colon - arg) >= sizeof host ||
	    g2t_cli_ulong(colon + 1, 0, 65535, &port))
		return -1;
	memcpy(host, arg, (size_t)(colon - arg));
	host[colon - arg] = '\0';
	if (inet_pton(AF_INET, host, &a) != 1)
		return -1;
	o->address = a.s_addr;
	o->port = (unsigned)port;
	return 0;
}

static void write_port(const char *path, unsigned port)
{
	struct g2t_diag d = { 0, -1, "" };
	struct g2t_out out;
	int rc = g2t_out_open(&out, path, &d);

	if (!rc) {
		fprintf(out.f, "%u\n", port);
		rc = g2t_out_commit(&out, &d);
	}
	g2t_out_abort(&out);
	if (rc)
		g2t_warn("%s: cannot write the port: %s", path, d.what[0] ? d.what : g2t_strerror(rc));
}

static void reload(struct g2t_server *s)
{
	struct g2t_diag d = { 0, -1, "" };
	size_t added, removed, enrolled;
	int rc = g2t_server_reload(s, &added, &removed, &enrolled, &d);

	if (rc) {
		g2t_report(NULL, rc, &d);
		g2t_warn("devices unchanged");
		return;
	}
	g2t_warn("devices read again: %zu enrolled, %zu new, %zu gone", enrolled, added,
	         removed);
}

/* Serves until SIGINT or SIGTERM, then stops cleanly; SIGHUP re-reads the
 * device keys. */
static int serve(const struct g2t_serve_opts *o, const char *port_file)
{
	struct g2t_server *s = NULL;
	struct g2t_diag d = { 0, -1, "" };
	sigset_t stop;
	char addr[INET_ADDRSTRLEN];
	int rc, sig;

	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop, NULL); /* the server's threads inherit it */
	signal(SIGPIPE, SIG_IGN);
	if ((rc = g2t_server_start(&s, o, &d))) {
		g2t_server_stop(s);
		return g2t_report(NULL, rc, &d);
	}
	inet_ntop(AF_INET, &o->address, addr, sizeof addr);
	g2t_warn("listening on %s:%u", addr, g2t_server_port(s));
	if (port_file)
		write_port(port_file, g2t_server_port(s));
	while ((sig = sigtimedwait(&stop, NULL, &(struct timespec){ 1, 0 })) < 0 ||
	       sig == SIGHUP) {
		if (sig == SIGHUP)
			reload(s);
		g2t_server_tick(s);
	}
	g2t_warn("stopping (signal %d)", sig);
	g2t_server_stop(s);
	return G2T_EXIT_OK;
}

/* The long name of option c, for messages. */
static const char *long_name(int c)
{
	for (const struct option *o = options; o->name; o++)
		if (o->val == c)
			return o->name;
	return "?";
}

/* Parses the options into o; -1 to go on, or the exit status. */
static int parse(int argc, char **argv, struct g2t_serve_opts *o, const char **tasks,
                 const char **devices, const char **port_file)
{
	unsigned long v;
	int c;

	while ((c = getopt_long(argc, argv, "t:S:l:d:hV", options, NULL)) != -1) {
		switch (c) {
		case 't': tasks[o->ntasks++] = optarg; break;
		case 'd': devices[o->ndevices++] = optarg; break;
		case 'S': o->state = optarg; break;
		case OPT_OPEN: o->open = 1; break;
		case OPT_NO_BACKUPS: o->no_backups = 1; break;
		case OPT_TLS_CERT: o->tls_cert = optarg; break;
		case OPT_TLS_KEY: o->tls_key = optarg; break;
		case OPT_PORT_FILE: *port_file = optarg; break;
		case 'l':
			if (parse_listen(optarg, o))
				return g2t_usage_error("--listen takes IPV4:PORT, e.g. 127.0.0.1:8080, "
				                       "not '%s'", optarg);
			break;
		case OPT_REPLICAS:
			if (g2t_cli_ulong(optarg, 1, 100, &v))
				return g2t_usage_error("--replicas takes a number from 1 to 100, not '%s'",
				                       optarg);
			o->replicas = (unsigned)v;
			break;
		case OPT_LEASE:
		case OPT_RATE:
		case OPT_ADDRESS_RATE:
		case OPT_THREADS:
		case OPT_MAX_CONN:
		case OPT_PER_IP:
			if (g2t_cli_ulong(optarg, 1, 1000000, &v))
				return g2t_usage_error("--%s takes a number from 1 to 1000000, not '%s'",
				                       long_name(c), optarg);
			if (c == OPT_LEASE) o->lease_timeout = (long)v;
			if (c == OPT_RATE) o->rate = (double)v;
			if (c == OPT_ADDRESS_RATE) o->address_rate = (double)v;
			if (c == OPT_THREADS) o->threads = (unsigned)v;
			if (c == OPT_MAX_CONN) o->connection_limit = (unsigned)v;
			if (c == OPT_PER_IP) o->per_ip_limit = (unsigned)v;
			break;
		case 'h': fputs(usage, stdout); return g2t_close_stdout(G2T_EXIT_OK);
		case 'V': g2t_print_version(); return g2t_close_stdout(G2T_EXIT_OK);
		default: return g2t_usage_error(NULL);
		}
	}
	if (!o->ntasks || !o->state || optind != argc)
		return g2t_usage_error("--tasks and --state are needed, and nothing else");
	if (!o->ndevices && !o->open)
		return g2t_usage_error("name the devices (--devices DIR) or --open");
	if (!o->tls_cert != !o->tls_key)
		return g2t_usage_error("--tls-cert and --tls-key go together");
	o->tasks = tasks;
	o->devices = devices;
	return -1;
}

int main(int argc, char **argv)
{
	struct g2t_serve_opts o = { .lease_timeout = 300, .replicas = 1, .rate = 50,
	                            .address_rate = 500, .body_limit = 64u << 20,
	                            .buffer_budget = 64u << 20, .connection_limit = 4096,
	                            .per_ip_limit = 64, .idle_timeout = 30 };
	const char **tasks = calloc((size_t)argc, sizeof *tasks);
	const char **devices = calloc((size_t)argc, sizeof *devices);
	const char *port_file = NULL;
	int rc = G2T_EXIT_FAIL;

	g2t_cli_name(argv, "g2t-serve");
	o.threads = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	parse_listen("127.0.0.1:8080", &o);
	if (tasks && devices && (rc = parse(argc, argv, &o, tasks, devices, &port_file)) < 0)
		rc = serve(&o, port_file);
	free(tasks);
	free(devices);
	return rc;
}
