/*
 * fake_daemon.c : a stand-in daemon for the harness's own tests.
 *
 * Role: behave like a Kiseki daemon as seen from outside (logs on stderr,
 * one `ready <name> <address>` line on stdout, clean exit on SIGTERM), with
 * switches that produce each failure the harness must handle: a late ready
 * line, an exit before ready, a SIGTERM that is ignored, megabytes of
 * stderr, extra stdout lines, a broken readiness contract.
 *
 * Data in: command-line options (see usage()); the environment for
 * --print-env. Data out: stdout lines, stderr text, the exit code.
 *
 * Sequence: parse → block SIGTERM/SIGINT → --spam-stderr → --exit-before-
 * ready → --pre-line → listen on 127.0.0.1:<port> → --delay-ready → print
 * `ready <name> tcp://127.0.0.1:<port>` → --echo-lines, --print-env,
 * --list-fds → wait for a signal → "bye" on stderr, exit 0.
 *
 * Signals are blocked and taken with sigtimedwait/sigwaitinfo, so there are
 * no handlers and no global state. A SIGTERM during --delay-ready also ends
 * the process (with "bye"), unless --ignore-term is given.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* fake_opts : everything the command line sets. */
typedef struct fake_opts {
	const char *name;     /* the <name> in the ready line */
	long listen_port;     /* 0: let the kernel pick */
	long delay_ready_ms;  /* sleep before the ready line */
	long exit_before;     /* exit with this code before ready; -1: no */
	bool ignore_term;     /* SIGTERM is logged and ignored */
	long spam_bytes;      /* bytes written to stderr before ready */
	long echo_lines;      /* "line <i>" stdout lines after ready */
	const char *print_env; /* print "env VAR=value" after ready; NULL: no */
	const char *pre_line; /* a stdout line before ready; NULL: none */
	bool list_fds;        /* print "fds 0 1 2 ..." after ready */
} fake_opts;

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: fake_daemon [options]\n"
	        "  --name NAME              name in the ready line (fake)\n"
	        "  --listen-port N          listen on 127.0.0.1:N (0: any)\n"
	        "  --delay-ready MS         wait MS before the ready line\n"
	        "  --exit-before-ready CODE exit with CODE before ready\n"
	        "  --ignore-term            log and ignore SIGTERM\n"
	        "  --spam-stderr BYTES      write BYTES to stderr before ready\n"
	        "  --echo-lines N           print N more stdout lines after "
	        "ready\n"
	        "  --print-env VAR          print \"env VAR=value\" after "
	        "ready\n"
	        "  --pre-line TEXT          print TEXT on stdout before ready\n"
	        "  --list-fds               print \"fds <n>...\", the open "
	        "descriptors\n"
	        "                           other than the listener, after "
	        "ready\n");
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static void write_all(int fd, const char *b, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		b += w;
		n -= (size_t)w;
	}
}

/* spam() : `bytes` of stderr as 100-byte lines, then "spam-end". */
static void spam(long bytes)
{
	char block[100 * 64];
	for (size_t i = 0; i < sizeof(block); i++)
		block[i] = (i % 100 == 99) ? '\n' : 'x';
	long left = bytes;
	while (left > 0) {
		size_t n = left < (long)sizeof(block) ? (size_t)left
		                                       : sizeof(block);
		write_all(STDERR_FILENO, block, n);
		left -= (long)n;
	}
	write_all(STDERR_FILENO, "\nspam-end\n", 10);
}

/* list_fds() : prints "fds" and each open descriptor except `skip`. */
static void list_fds(int skip)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d) {
		printf("fds unknown\n");
		return;
	}
	char line[1024] = "fds";
	size_t used = 3;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		int fd = atoi(e->d_name);
		if (fd == skip || fd == dirfd(d))
			continue;
		int n = snprintf(line + used, sizeof(line) - used, " %d", fd);
		if (n < 0 || (size_t)n >= sizeof(line) - used)
			break;
		used += (size_t)n;
	}
	closedir(d);
	printf("%s\n", line);
}

/* take_signal() : waits up to `ms` (-1: forever) for SIGTERM/SIGINT.
 * @return : true when the process should exit now. */
static bool take_signal(const sigset_t *set, long ms, bool ignore_term)
{
	struct timespec deadline = { 0, 0 };
	if (ms >= 0) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += ms / 1000;
		deadline.tv_nsec += (ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}
	for (;;) {
		int sig;
		if (ms < 0) {
			sig = sigwaitinfo(set, NULL);
		} else {
			struct timespec now, left;
			clock_gettime(CLOCK_MONOTONIC, &now);
			left.tv_sec = deadline.tv_sec - now.tv_sec;
			left.tv_nsec = deadline.tv_nsec - now.tv_nsec;
			if (left.tv_nsec < 0) {
				left.tv_sec--;
				left.tv_nsec += 1000000000L;
			}
			if (left.tv_sec < 0)
				return false;
			sig = sigtimedwait(set, NULL, &left);
		}
		if (sig < 0) {
			if (errno == EAGAIN)
				return false; /* the delay is over */
			continue;             /* EINTR */
		}
		if (sig == SIGTERM && ignore_term) {
			fprintf(stderr, "fake: ignoring SIGTERM\n");
			continue;
		}
		fprintf(stderr, "fake: got signal %d\n", sig);
		return true;
	}
}

int main(int argc, char **argv)
{
	fake_opts o = { .name = "fake", .exit_before = -1 };
	enum { O_NAME = 1, O_PORT, O_DELAY, O_EXIT, O_IGNORE, O_SPAM, O_ECHO,
	       O_ENV, O_PRE, O_FDS, O_HELP };
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, O_NAME },
		{ "listen-port", required_argument, NULL, O_PORT },
		{ "delay-ready", required_argument, NULL, O_DELAY },
		{ "exit-before-ready", required_argument, NULL, O_EXIT },
		{ "ignore-term", no_argument, NULL, O_IGNORE },
		{ "spam-stderr", required_argument, NULL, O_SPAM },
		{ "echo-lines", required_argument, NULL, O_ECHO },
		{ "print-env", required_argument, NULL, O_ENV },
		{ "pre-line", required_argument, NULL, O_PRE },
		{ "list-fds", no_argument, NULL, O_FDS },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	bool ok = true;
	while (ok && (c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case O_NAME:
			o.name = optarg;
			break;
		case O_PORT:
			ok = parse_long(optarg, 0, 65535, &o.listen_port);
			break;
		case O_DELAY:
			ok = parse_long(optarg, 0, 3600000, &o.delay_ready_ms);
			break;
		case O_EXIT:
			ok = parse_long(optarg, 0, 255, &o.exit_before);
			break;
		case O_IGNORE:
			o.ignore_term = true;
			break;
		case O_SPAM:
			ok = parse_long(optarg, 0, 1L << 30, &o.spam_bytes);
			break;
		case O_ECHO:
			ok = parse_long(optarg, 0, 1000000, &o.echo_lines);
			break;
		case O_ENV:
			o.print_env = optarg;
			break;
		case O_PRE:
			o.pre_line = optarg;
			break;
		case O_FDS:
			o.list_fds = true;
			break;
		case O_HELP:
			usage(stdout);
			return 0;
		default:
			ok = false;
			break;
		}
	}
	if (!ok || optind != argc) {
		usage(stderr);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);

	fprintf(stderr, "fake: starting (pid %d)\n", (int)getpid());
	if (o.spam_bytes > 0)
		spam(o.spam_bytes);
	if (o.exit_before >= 0) {
		fprintf(stderr, "fake: failing before ready with code %ld\n",
		        o.exit_before);
		return (int)o.exit_before;
	}
	if (o.pre_line)
		printf("%s\n", o.pre_line);

	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)o.listen_port);
	socklen_t sl = sizeof(sa);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
		fprintf(stderr, "fake: cannot listen on 127.0.0.1:%ld: %s\n",
		        o.listen_port, strerror(errno));
		return 1;
	}

	bool stop = false;
	if (o.delay_ready_ms > 0)
		stop = take_signal(&set, o.delay_ready_ms, o.ignore_term);
	if (!stop) {
		printf("ready %s tcp://127.0.0.1:%u\n", o.name,
		       (unsigned)ntohs(sa.sin_port));
		fprintf(stderr, "fake: serving\n");
		for (long i = 1; i <= o.echo_lines; i++)
			printf("line %ld\n", i);
		if (o.print_env) {
			const char *v = getenv(o.print_env);
			if (v)
				printf("env %s=%s\n", o.print_env, v);
			else
				printf("env %s unset\n", o.print_env);
		}
		if (o.list_fds)
			list_fds(fd);
		take_signal(&set, -1, o.ignore_term);
	}
	close(fd);
	fprintf(stderr, "bye\n");
	return 0;
}
