/*
 * serial-relay: a serial line for tests.  Opens a pty, writes its path to
 * PATHFILE, runs the device command with its stdin and stdout on pipes,
 * and relays bytes both ways; --flip N and --drop N damage the Nth byte
 * (from 1, both directions counted together), as a noisy line would.
 * Ends when the device ends.
 *
 *   serial-relay [--flip N] [--drop N] PATHFILE COMMAND [ARG...]
 */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static unsigned long count, flip, drop;

/* Copies what fd `from` has to `to`, damaged where asked; 0 at its end. */
static int relay(int from, int to)
{
	unsigned char b[512];
	ssize_t n = read(from, b, sizeof b), i, k = 0;

	if (n <= 0)
		return 0;
	for (i = 0; i < n; i++) {
		count++;
		if (count == drop)
			continue;
		b[k++] = count == flip ? b[i] ^ 0x10 : b[i];
	}
	return write(to, b, (size_t)k) == k;
}

int main(int argc, char **argv)
{
	int in[2], out[2], m, s, i = 1;
	struct termios t;
	FILE *f;
	pid_t pid;

	signal(SIGPIPE, SIG_IGN);
	for (; i + 1 < argc && argv[i][0] == '-'; i += 2)
		*(strcmp(argv[i], "--flip") ? &drop : &flip) = strtoul(argv[i + 1], NULL, 10);
	if (argc - i < 2) {
		fputs("usage: serial-relay [--flip N] [--drop N] PATHFILE COMMAND [ARG...]\n", stderr);
		return 2;
	}
	if ((m = posix_openpt(O_RDWR | O_NOCTTY)) < 0 || grantpt(m) || unlockpt(m) ||
	    (s = open(ptsname(m), O_RDWR | O_NOCTTY)) < 0 || tcgetattr(s, &t)) {
		perror("serial-relay: pty");
		return 1;
	}
	cfmakeraw(&t);
	tcsetattr(s, TCSANOW, &t); /* s stays open: the master never sees a hangup */
	if (pipe(in) || pipe(out) || (pid = fork()) < 0) {
		perror("serial-relay");
		return 1;
	}
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execvp(argv[i + 1], argv + i + 1);
		perror(argv[i + 1]);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if (!(f = fopen(argv[i], "w")) || fprintf(f, "%s\n", ptsname(m)) < 0 || fclose(f)) {
		perror(argv[i]);
		return 1;
	}
	for (;;) {
		struct pollfd p[2] = { { m, POLLIN, 0 }, { out[0], POLLIN, 0 } };

		if (poll(p, 2, -1) < 0)
			continue;
		if ((p[0].revents & POLLIN) && !relay(m, in[1]))
			break;
		if ((p[1].revents & (POLLIN | POLLHUP)) && !relay(out[0], m))
			break;
	}
	close(in[1]);
	waitpid(pid, &i, 0);
	return 0;
}
