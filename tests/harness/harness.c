/*
 * harness.c : the process-test harness (see harness.h for the API).
 *
 * Role: start a Kiseki binary (or tests/harness/fake_daemon) as a child,
 * capture what it writes, wait for its `ready <name> <address>` line, feed
 * later stdout lines to the test, deliver signals, reap it, and never leave a
 * process, a zombie or a descriptor behind.
 *
 * Data in: argv, extra environment, timeouts. Data out: the ready name and
 * address, stdout lines, bounded copies of stdout and stderr, exit status,
 * and on failure a message that quotes the child's stderr tail.
 *
 * Design:
 *  - One kh_proc per child. Spawning is fork + execve (not posix_spawn) so
 *    the child can set PR_SET_PDEATHSIG and its own process group before
 *    exec; between fork and exec it calls only async-signal-safe functions,
 *    on data (argv, envp) prepared by the parent. Exec failures travel back
 *    on a close-on-exec "report" pipe: EOF means the exec succeeded.
 *  - One reader thread per kh_proc polls the stdout pipe, the stderr pipe and
 *    a wake pipe, and appends what it reads to two capture buffers. It runs
 *    for the whole life of the child, so a child that writes megabytes never
 *    blocks on a full pipe, whatever the test is doing meanwhile.
 *  - Waits run in the owner thread: they sleep on the condition variable the
 *    reader broadcasts after every read, in slices of at most KH_POLL_MS so
 *    that waitpid(WNOHANG) is re-checked (a grandchild may keep the pipes
 *    open after the child died). Deadlines use CLOCK_MONOTONIC.
 *
 * Invariants:
 *  - Each capture holds the newest bytes: data[0..len) are the stream bytes
 *    [total - len, total), len <= cap.
 *  - out_rd (absolute stdout offset of the next unread byte) only grows; when
 *    the bytes it points at were dropped, it jumps to the oldest kept byte.
 *  - The child is signalled only while not reaped (after waitpid its pid may
 *    belong to someone else). The process group is signalled only then, too.
 *  - Every descriptor is opened O_CLOEXEC; the child inherits only 0, 1, 2.
 *
 * Locking: `mu` guards out, err (both kh_capture) and nothing else. The
 * reader thread owns the tee state; the owner thread owns everything else
 * (pid, reaped, status, out_rd, line, ready strings).
 *
 * This is test infrastructure, not product code: it allocates with libc
 * malloc directly and does not link ksk_common.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define KH_POLL_MS 5           /* longest sleep before re-checking waitpid */
#define KH_EOF_GRACE_MS 500    /* wait for pipe EOF after the child is reaped */
#define KH_KILL_REAP_MS 5000   /* bound on reaping after SIGKILL */
#define KH_EXEC_REPORT_MS 10000 /* bound on hearing back from exec */
#define KH_TEE_LINE_MAX 4096   /* longer stderr lines are tee'd in pieces */
#define KH_RMTREE_DEPTH 256    /* deeper trees are refused (fd budget) */
#define KH_READ_CHUNK 16384

/* kh_capture : one captured stream. Guarded by kh_proc.mu. */
typedef struct kh_capture {
	char *data;     /* newest bytes of the stream; NULL until first data */
	size_t len;     /* bytes held in data */
	size_t alloc;   /* bytes allocated at data (<= cap) */
	uint64_t total; /* bytes received since spawn, dropped ones included */
	bool eof;       /* the pipe reached end-of-file (or failed) */
} kh_capture;

struct kh_proc {
	char *name;            /* label: opts.name or basename(argv[0]) */
	pid_t pid;             /* the child; also its process group id */
	bool reaped;           /* waitpid has collected it */
	kh_exit status;        /* valid once reaped */
	size_t cap;            /* bound per capture */
	int out_fd;            /* read end of the child's stdout pipe */
	int err_fd;            /* read end of the child's stderr pipe */
	int wake_r, wake_w;    /* wake pipe: a byte stops the reader thread */
	pthread_t reader;      /* the reader thread */
	bool reader_running;   /* reader was started and not yet joined */
	pthread_mutex_t mu;    /* guards out, err */
	pthread_cond_t cv;     /* broadcast after every change to out, err */
	kh_capture out;        /* stdout capture */
	kh_capture err;        /* stderr capture */
	uint64_t out_rd;       /* absolute offset of the next unread stdout byte */
	char *line;            /* last line handed out by read_line/wait_ready */
	size_t line_alloc;     /* bytes allocated at line */
	char *ready_name;      /* from the ready line; NULL before it */
	char *ready_addr;      /* from the ready line; NULL before it */
	char *tee;             /* verbose only: "[name] " + pending line; reader */
	size_t tee_prefix;     /* length of "[name] " */
	size_t tee_len;        /* pending line bytes after the prefix */
};

/* ---- messages and time ----------------------------------------------- */

static void msg_clear(kh_msg *m)
{
	if (m)
		m->text[0] = '\0';
}

static void msg_vadd(kh_msg *m, const char *fmt, va_list ap)
{
	if (!m)
		return;
	size_t used = strnlen(m->text, sizeof(m->text));
	if (used + 1 >= sizeof(m->text))
		return;
	vsnprintf(m->text + used, sizeof(m->text) - used, fmt, ap);
}

static void msg_add(kh_msg *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void msg_add(kh_msg *m, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	msg_vadd(m, fmt, ap);
	va_end(ap);
}

/* msg_set() : replaces the message; returns `rc` for `return msg_set(...)`. */
static int msg_set(kh_msg *m, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int msg_set(kh_msg *m, int rc, const char *fmt, ...)
{
	msg_clear(m);
	va_list ap;
	va_start(ap, fmt);
	msg_vadd(m, fmt, ap);
	va_end(ap);
	return rc;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *sig_name(int signo)
{
	const char *ab = sigabbrev_np(signo);
	return ab ? ab : "?";
}

/* write_all() : writes everything, retrying on EINTR and short writes. */
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

/* ---- scratch space and addresses ------------------------------------- */

int kh_tmpdir_create(const char *tag, char **out_path, kh_msg *msg)
{
	msg_clear(msg);
	if (!out_path)
		return msg_set(msg, -EINVAL, "kh_tmpdir_create: out_path is NULL");
	if (!tag)
		tag = "test";
	if (!*tag || strchr(tag, '/') || strlen(tag) > 64)
		return msg_set(msg, -EINVAL,
		               "kh_tmpdir_create: bad tag \"%s\"", tag);
	const char *base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	/* Resolve the base so the result is absolute (kh_rmtree wants that). */
	char real[PATH_MAX];
	if (!realpath(base, real)) {
		int e = errno;
		return msg_set(msg, -e, "kh_tmpdir_create: realpath(%s): %s",
		               base, strerror(e));
	}
	size_t n = strlen(real) + strlen(tag) + 32;
	char *path = malloc(n);
	if (!path)
		return msg_set(msg, -ENOMEM, "kh_tmpdir_create: out of memory");
	snprintf(path, n, "%s/kiseki-%s-XXXXXX", strcmp(real, "/") ? real : "",
	         tag);
	if (!mkdtemp(path)) {
		int e = errno;
		msg_set(msg, -e, "kh_tmpdir_create: mkdtemp(%s): %s", path,
		        strerror(e));
		free(path);
		return -e;
	}
	*out_path = path;
	return 0;
}

/* rm_at() : removes `name` (relative to directory fd `dfd`) and, for a
 * directory, everything in it. `path` is its full name, for messages only.
 * Returns 0 or the first -errno met; keeps going past failures. */
static int rm_at(int dfd, const char *name, const char *path, dev_t dev,
                 int depth, kh_msg *msg)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT)
			return 0;
		int e = errno;
		return msg_set(msg, -e, "kh_rmtree: stat %s: %s", path,
		               strerror(e));
	}
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dfd, name, 0) != 0 && errno != ENOENT) {
			int e = errno;
			return msg_set(msg, -e, "kh_rmtree: unlink %s: %s", path,
			               strerror(e));
		}
		return 0;
	}
	if (st.st_dev != dev)
		return msg_set(msg, -EXDEV,
		               "kh_rmtree: %s is another mount; not entering it",
		               path);
	if (depth > KH_RMTREE_DEPTH)
		return msg_set(msg, -ELOOP, "kh_rmtree: %s is nested too deep",
		               path);
	/* A test may have made a directory read-only: open it up first. */
	if ((st.st_mode & S_IRWXU) != S_IRWXU)
		(void)fchmodat(dfd, name, (st.st_mode & 07777) | S_IRWXU, 0);
	int fd = openat(dfd, name,
	                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		return msg_set(msg, -e, "kh_rmtree: open %s: %s", path,
		               strerror(e));
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return msg_set(msg, -e, "kh_rmtree: fdopendir %s: %s", path,
		               strerror(e));
	}
	int first = 0;
	struct dirent *ent;
	while ((ent = readdir(d)) != NULL) {
		const char *n = ent->d_name;
		if (!strcmp(n, ".") || !strcmp(n, ".."))
			continue;
		size_t plen = strlen(path) + strlen(n) + 2;
		char *sub = malloc(plen);
		if (!sub) {
			if (!first)
				first = msg_set(msg, -ENOMEM,
				                "kh_rmtree: out of memory");
			break;
		}
		snprintf(sub, plen, "%s/%s", path, n);
		int rc = rm_at(dirfd(d), n, sub, dev, depth + 1,
		               first ? NULL : msg);
		free(sub);
		if (rc && !first)
			first = rc;
	}
	closedir(d);
	if (unlinkat(dfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT &&
	    !first) {
		int e = errno;
		first = msg_set(msg, -e, "kh_rmtree: rmdir %s: %s", path,
		                strerror(e));
	}
	return first;
}

int kh_rmtree(const char *path, kh_msg *msg)
{
	msg_clear(msg);
	if (!path || path[0] != '/' || strspn(path, "/") == strlen(path))
		return msg_set(msg, -EINVAL,
		               "kh_rmtree: refusing path \"%s\" (need an "
		               "absolute path below /)",
		               path ? path : "(null)");
	/* Refuse any ".." component. */
	for (const char *s = path; (s = strstr(s, "..")) != NULL; s += 2) {
		bool starts = s == path || s[-1] == '/';
		bool ends = s[2] == '\0' || s[2] == '/';
		if (starts && ends)
			return msg_set(msg, -EINVAL,
			               "kh_rmtree: refusing path with \"..\": %s",
			               path);
	}
	struct stat st;
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		int e = errno;
		return msg_set(msg, -e, "kh_rmtree: stat %s: %s", path,
		               strerror(e));
	}
	return rm_at(AT_FDCWD, path, path, st.st_dev, 0, msg);
}

int kh_ipc_url(const char *dir, const char *name, char *out, size_t out_len,
               kh_msg *msg)
{
	msg_clear(msg);
	if (!dir || !name || !*name || !out)
		return msg_set(msg, -EINVAL, "kh_ipc_url: NULL or empty argument");
	struct sockaddr_un sun;
	size_t plen = strlen(dir) + 1 + strlen(name);
	if (plen >= sizeof(sun.sun_path))
		return msg_set(msg, -ENAMETOOLONG,
		               "kh_ipc_url: socket path %s/%s is %zu bytes; a "
		               "unix socket path holds at most %zu (use a shorter "
		               "TMPDIR)",
		               dir, name, plen, sizeof(sun.sun_path) - 1);
	int n = snprintf(out, out_len, "ipc://%s/%s", dir, name);
	if (n < 0 || (size_t)n >= out_len)
		return msg_set(msg, -ENOSPC,
		               "kh_ipc_url: output buffer of %zu bytes is too "
		               "small",
		               out_len);
	return 0;
}

int kh_free_port(uint16_t *out_port, kh_msg *msg)
{
	msg_clear(msg);
	if (!out_port)
		return msg_set(msg, -EINVAL, "kh_free_port: out_port is NULL");
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int e = errno;
		return msg_set(msg, -e, "kh_free_port: socket: %s", strerror(e));
	}
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = 0;
	socklen_t sl = sizeof(sa);
	int rc = 0;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		rc = -errno;
		msg_set(msg, rc, "kh_free_port: bind 127.0.0.1:0: %s",
		        strerror(-rc));
	} else if (getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
		rc = -errno;
		msg_set(msg, rc, "kh_free_port: getsockname: %s",
		        strerror(-rc));
	} else {
		*out_port = ntohs(sa.sin_port);
	}
	close(fd);
	return rc;
}

/* ---- capture buffers and the reader thread --------------------------- */

/* capture_append() : adds `n` bytes, dropping the oldest past `cap`. Called
 * with mu held. Out of memory drops the new bytes (total still counts). */
static void capture_append(kh_capture *c, size_t cap, const char *b, size_t n)
{
	c->total += n;
	if (n >= cap) {
		b += n - cap;
		n = cap;
		c->len = 0;
	} else if (c->len + n > cap) {
		size_t drop = c->len + n - cap;
		memmove(c->data, c->data + drop, c->len - drop);
		c->len -= drop;
	}
	if (c->len + n > c->alloc) {
		size_t na = c->alloc ? c->alloc : 4096;
		while (na < c->len + n)
			na *= 2;
		if (na > cap)
			na = cap;
		char *nd = realloc(c->data, na);
		if (!nd)
			return;
		c->data = nd;
		c->alloc = na;
	}
	memcpy(c->data + c->len, b, n);
	c->len += n;
}

/* tee_flush() : writes the pending "[name] line" plus '\n' to our stderr.
 * Reader thread only. */
static void tee_flush(kh_proc *p)
{
	size_t n = p->tee_prefix + p->tee_len;
	p->tee[n] = '\n';
	write_all(STDERR_FILENO, p->tee, n + 1);
	p->tee_len = 0;
}

static void tee_feed(kh_proc *p, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (b[i] == '\n') {
			tee_flush(p);
			continue;
		}
		if (p->tee_len == KH_TEE_LINE_MAX)
			tee_flush(p);
		p->tee[p->tee_prefix + p->tee_len++] = b[i];
	}
}

/* reader_main() : drains both pipes until both reach EOF or the wake pipe
 * fires, then marks both captures ended. */
static void *reader_main(void *arg)
{
	kh_proc *p = arg;
	char buf[KH_READ_CHUNK];
	bool out_open = true, err_open = true;
	while (out_open || err_open) {
		/* Slot 0 is the wake pipe; io/ie are the pipes' slots or -1. */
		struct pollfd pf[3] = { { .fd = p->wake_r, .events = POLLIN } };
		int n = 1, io = -1, ie = -1;
		if (out_open) {
			io = n++;
			pf[io] = (struct pollfd){ .fd = p->out_fd, .events = POLLIN };
		}
		if (err_open) {
			ie = n++;
			pf[ie] = (struct pollfd){ .fd = p->err_fd, .events = POLLIN };
		}
		if (poll(pf, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[0].revents)
			break;
		for (int k = 0; k < 2; k++) {
			int i = k == 0 ? io : ie;
			if (i < 0 || !pf[i].revents)
				continue;
			ssize_t r = read(pf[i].fd, buf, sizeof(buf));
			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			kh_capture *c = k == 0 ? &p->out : &p->err;
			pthread_mutex_lock(&p->mu);
			if (r > 0)
				capture_append(c, p->cap, buf, (size_t)r);
			else
				c->eof = true;
			pthread_cond_broadcast(&p->cv);
			pthread_mutex_unlock(&p->mu);
			if (r <= 0) {
				if (k == 0)
					out_open = false;
				else
					err_open = false;
			} else if (k == 1 && p->tee) {
				tee_feed(p, buf, (size_t)r);
			}
		}
	}
	if (p->tee && p->tee_len)
		tee_flush(p);
	pthread_mutex_lock(&p->mu);
	p->out.eof = p->err.eof = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* ---- waiting (owner thread) ------------------------------------------ */

static void record_status(kh_proc *p, int st)
{
	p->reaped = true;
	if (WIFEXITED(st)) {
		p->status.code = WEXITSTATUS(st);
		p->status.signo = 0;
	} else {
		p->status.code = -1;
		p->status.signo = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	}
}

/* reap_nohang() : collects the child if it has ended.
 * @return : 1 reaped (now or before), 0 still running, -errno on failure. */
static int reap_nohang(kh_proc *p)
{
	if (p->reaped)
		return 1;
	int st;
	pid_t r = waitpid(p->pid, &st, WNOHANG);
	if (r == p->pid) {
		record_status(p, st);
		return 1;
	}
	if (r == 0 || (r < 0 && errno == EINTR))
		return 0;
	if (errno == ECHILD) {
		/* Someone else reaped it (a test calling waitpid(-1)). */
		p->reaped = true;
		p->status.code = -1;
		p->status.signo = 0;
		return 1;
	}
	return -errno;
}

/* sleep_locked() : waits on cv (mu held) until output changes or
 * min(deadline, now + KH_POLL_MS). */
static void sleep_locked(kh_proc *p, int64_t deadline)
{
	int64_t until = now_ms() + KH_POLL_MS;
	if (deadline < until)
		until = deadline;
	struct timespec ts = { .tv_sec = (time_t)(until / 1000),
		               .tv_nsec = (long)(until % 1000) * 1000000L };
	pthread_cond_timedwait(&p->cv, &p->mu, &ts);
}

/* reap_bounded() : polls for the child's end until `deadline`.
 * @return : 1 reaped, 0 not by the deadline, -errno. */
static int reap_bounded(kh_proc *p, int64_t deadline)
{
	for (;;) {
		int r = reap_nohang(p);
		if (r != 0 || now_ms() >= deadline)
			return r;
		pthread_mutex_lock(&p->mu);
		sleep_locked(p, deadline);
		pthread_mutex_unlock(&p->mu);
	}
}

/* eof_grace() : after the child is reaped, waits (bounded) for the reader to
 * see EOF on both pipes so the captures are complete. */
static void eof_grace(kh_proc *p)
{
	int64_t deadline = now_ms() + KH_EOF_GRACE_MS;
	pthread_mutex_lock(&p->mu);
	while (!(p->out.eof && p->err.eof) && now_ms() < deadline)
		sleep_locked(p, deadline);
	pthread_mutex_unlock(&p->mu);
}

/* kill_and_reap() : SIGKILLs the child and its group, then reaps it within
 * KH_KILL_REAP_MS. Only while not reaped (the group id is ours then). */
static int kill_and_reap(kh_proc *p)
{
	if (p->reaped)
		return 1;
	(void)kill(-p->pid, SIGKILL);
	(void)kill(p->pid, SIGKILL);
	return reap_bounded(p, now_ms() + KH_KILL_REAP_MS);
}

/* add_status() : appends how the child ended, or that it is still running. */
static void add_status(kh_proc *p, kh_msg *msg)
{
	if (!p->reaped)
		msg_add(msg, "; it is still running (pid %d)", (int)p->pid);
	else if (p->status.signo)
		msg_add(msg, "; it was killed by signal %d (SIG%s)",
		        p->status.signo, sig_name(p->status.signo));
	else if (p->status.code >= 0)
		msg_add(msg, "; it exited with code %d", p->status.code);
	else
		msg_add(msg, "; it was reaped elsewhere");
}

/* add_stderr_tail() : appends the last KH_MSG_TAIL bytes of stderr, cut at a
 * line start when one is near. */
static void add_stderr_tail(kh_proc *p, kh_msg *msg)
{
	if (!msg)
		return;
	pthread_mutex_lock(&p->mu);
	const kh_capture *c = &p->err;
	size_t n = c->len < KH_MSG_TAIL ? c->len : KH_MSG_TAIL;
	const char *s = n ? c->data + c->len - n : "";
	if (n < c->len) {
		const char *nl = memchr(s, '\n', n);
		if (nl && (size_t)(nl - s) < n / 2) {
			n -= (size_t)(nl + 1 - s);
			s = nl + 1;
		}
	}
	if (n == 0)
		msg_add(msg, "\n--- %s wrote nothing on stderr ---", p->name);
	else
		msg_add(msg, "\n--- stderr tail of %s (%llu bytes in all) ---\n"
		             "%.*s",
		        p->name, (unsigned long long)c->total, (int)n, s);
	pthread_mutex_unlock(&p->mu);
}

/* take_line_locked() : moves the next stdout line into p->line. With
 * `at_eof`, a final line without '\n' counts. mu held.
 * @return : 1 taken, 0 no full line yet, -ENOMEM. */
static int take_line_locked(kh_proc *p, bool at_eof)
{
	const kh_capture *c = &p->out;
	uint64_t first = c->total - c->len;
	if (p->out_rd < first)
		p->out_rd = first;
	size_t off = (size_t)(p->out_rd - first);
	if (off >= c->len)
		return 0;
	const char *s = c->data + off;
	const char *nl = memchr(s, '\n', c->len - off);
	size_t n;
	if (nl)
		n = (size_t)(nl - s);
	else if (at_eof)
		n = c->len - off;
	else
		return 0;
	if (n + 1 > p->line_alloc) {
		char *nb = realloc(p->line, n + 1);
		if (!nb)
			return -ENOMEM;
		p->line = nb;
		p->line_alloc = n + 1;
	}
	memcpy(p->line, s, n);
	p->line[n] = '\0';
	p->out_rd += n + (nl ? 1 : 0);
	return 1;
}

/* check_fn : a wait condition, called with mu held.
 * @return : 1 met, 0 not yet, -ECHILD can no longer be met, other -errno. */
typedef int (*check_fn)(kh_proc *p, void *arg);

static int check_line(kh_proc *p, void *arg)
{
	(void)arg;
	int r = take_line_locked(p, p->out.eof);
	if (r == 0 && p->out.eof)
		return -ECHILD;
	return r;
}

static int check_stderr(kh_proc *p, void *arg)
{
	const char *needle = arg;
	const kh_capture *c = &p->err;
	if (c->len && memmem(c->data, c->len, needle, strlen(needle)))
		return 1;
	return c->eof ? -ECHILD : 0;
}

/* wait_for() : the common wait loop. Returns 1 when `check` is met, its
 * error, -ETIMEDOUT at `deadline`, or -ECHILD once the child has been reaped
 * for KH_EOF_GRACE_MS without the condition being met. */
static int wait_for(kh_proc *p, int64_t deadline, check_fn check, void *arg)
{
	int64_t gone_at = -1;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		int rc = check(p, arg);
		if (rc != 0) {
			pthread_mutex_unlock(&p->mu);
			return rc;
		}
		int r = reap_nohang(p);
		int64_t now = now_ms();
		if (r < 0) {
			pthread_mutex_unlock(&p->mu);
			return r;
		}
		if (r == 1 && gone_at < 0)
			gone_at = now + KH_EOF_GRACE_MS;
		if (gone_at >= 0 && now >= gone_at) {
			pthread_mutex_unlock(&p->mu);
			return -ECHILD;
		}
		if (now >= deadline) {
			pthread_mutex_unlock(&p->mu);
			return -ETIMEDOUT;
		}
		sleep_locked(p, gone_at >= 0 && gone_at < deadline ? gone_at
		                                                   : deadline);
	}
}

/* ---- spawn ----------------------------------------------------------- */

/* exec_report : what a child sends back when it cannot exec. */
typedef struct exec_report {
	int stage; /* 0 chdir, 1 execve, 2 setup */
	int err;   /* errno */
} exec_report;

/* build_env() : our environment with `extra` entries added or replacing.
 * The array is malloc'd; the strings are borrowed. */
static char **build_env(const char *const *extra)
{
	size_t ne = 0, nx = 0;
	while (environ && environ[ne])
		ne++;
	while (extra && extra[nx])
		nx++;
	char **env = calloc(ne + nx + 1, sizeof(*env));
	if (!env)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < ne; i++) {
		const char *e = environ[i];
		size_t kl = strcspn(e, "=");
		bool replaced = false;
		for (size_t j = 0; j < nx && !replaced; j++)
			replaced = strncmp(extra[j], e, kl) == 0 &&
			           extra[j][kl] == '=';
		if (!replaced)
			env[k++] = (char *)e;
	}
	for (size_t j = 0; j < nx; j++)
		env[k++] = (char *)extra[j];
	env[k] = NULL;
	return env;
}

/* move_fd() : dup2 that also clears close-on-exec when src == dst.
 * Async-signal-safe; used in the child only. */
static int move_fd(int src, int dst)
{
	if (src == dst)
		return fcntl(dst, F_SETFD, 0);
	return dup2(src, dst) < 0 ? -1 : 0;
}

/* child_exec() : runs in the forked child; never returns. Only
 * async-signal-safe calls. */
static void child_exec(pid_t parent, int devnull, int out_w, int err_w,
                       int report_w, const char *cwd, char *const argv[],
                       char *const envp[])
{
	exec_report rep = { .stage = 2, .err = 0 };
	struct sigaction dfl;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int s = 1; s < NSIG; s++)
		(void)sigaction(s, &dfl, NULL);
	sigset_t none;
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	(void)setpgid(0, 0);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(127);
	if (move_fd(devnull, 0) || move_fd(out_w, 1) || move_fd(err_w, 2)) {
		rep.err = errno;
		goto fail;
	}
	/* Whatever else the test process had open must not leak into the
	 * child; ours are already close-on-exec. Best effort. */
	(void)close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	if (cwd && chdir(cwd) != 0) {
		rep.stage = 0;
		rep.err = errno;
		goto fail;
	}
	execve(argv[0], argv, envp);
	rep.stage = 1;
	rep.err = errno;
fail:
	write_all(report_w, (const char *)&rep, sizeof(rep));
	_exit(127);
}

/* read_report() : waits for EOF (exec worked) or an exec_report.
 * @return : 1 with *rep filled, 0 exec worked, -errno. */
static int read_report(int fd, exec_report *rep)
{
	int64_t deadline = now_ms() + KH_EXEC_REPORT_MS;
	size_t got = 0;
	while (got < sizeof(*rep)) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		int r = poll(&pf, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			continue;
		ssize_t n = read(fd, (char *)rep + got, sizeof(*rep) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return got ? -EPROTO : 0;
		got += (size_t)n;
	}
	return 1;
}

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* proc_free() : releases what kh_proc_spawn built; the child, if any, must
 * already be reaped or given up on, and the reader joined. */
static void proc_free(kh_proc *p)
{
	close_fd(&p->out_fd);
	close_fd(&p->err_fd);
	close_fd(&p->wake_r);
	close_fd(&p->wake_w);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p->out.data);
	free(p->err.data);
	free(p->line);
	free(p->ready_name);
	free(p->ready_addr);
	free(p->tee);
	free(p->name);
	free(p);
}

int kh_proc_spawn(kh_proc **out, const kh_spawn_opts *opts, kh_msg *msg)
{
	msg_clear(msg);
	if (!out || !opts || !opts->argv || !opts->argv[0] || !*opts->argv[0])
		return msg_set(msg, -EINVAL,
		               "kh_proc_spawn: out, opts and argv[0] are required");
	const char *path = opts->argv[0];
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;

	kh_proc *p = calloc(1, sizeof(*p));
	if (!p)
		return msg_set(msg, -ENOMEM, "kh_proc_spawn: out of memory");
	p->out_fd = p->err_fd = p->wake_r = p->wake_w = -1;
	p->pid = -1;
	p->cap = opts->capture_max ? opts->capture_max : KH_CAPTURE_DEFAULT;
	p->status.code = -1;

	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&p->mu, NULL);

	int rc = 0;
	int pout[2] = { -1, -1 }, perr[2] = { -1, -1 }, prep[2] = { -1, -1 };
	int pwake[2] = { -1, -1 };
	int devnull = -1;
	char **envp = NULL;

	p->name = strdup(opts->name ? opts->name : base);
	if (!p->name) {
		rc = msg_set(msg, -ENOMEM, "kh_proc_spawn: out of memory");
		goto fail;
	}
	const char *verbose = getenv(KH_VERBOSE_ENV);
	if (verbose && !strcmp(verbose, "1")) {
		p->tee_prefix = strlen(p->name) + 3;
		p->tee = malloc(p->tee_prefix + KH_TEE_LINE_MAX + 1);
		if (!p->tee) {
			rc = msg_set(msg, -ENOMEM, "kh_proc_spawn: out of memory");
			goto fail;
		}
		snprintf(p->tee, p->tee_prefix + 1, "[%s] ", p->name);
	}
	envp = build_env(opts->env);
	if (!envp) {
		rc = msg_set(msg, -ENOMEM, "kh_proc_spawn: out of memory");
		goto fail;
	}
	if (pipe2(pout, O_CLOEXEC) || pipe2(perr, O_CLOEXEC) ||
	    pipe2(prep, O_CLOEXEC) || pipe2(pwake, O_CLOEXEC)) {
		rc = -errno;
		msg_set(msg, rc, "kh_proc_spawn %s: pipe2: %s", p->name,
		        strerror(-rc));
		goto fail;
	}
	p->out_fd = pout[0];
	p->err_fd = perr[0];
	p->wake_r = pwake[0];
	p->wake_w = pwake[1];
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0) {
		rc = -errno;
		msg_set(msg, rc, "kh_proc_spawn %s: open /dev/null: %s",
		        p->name, strerror(-rc));
		goto fail;
	}

	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		rc = -errno;
		msg_set(msg, rc, "kh_proc_spawn %s: fork: %s", p->name,
		        strerror(-rc));
		goto fail;
	}
	if (pid == 0)
		child_exec(parent, devnull, pout[1], perr[1], prep[1], opts->cwd,
		           (char *const *)opts->argv, envp);
	p->pid = pid;
	close_fd(&pout[1]);
	close_fd(&perr[1]);
	close_fd(&prep[1]);
	close_fd(&devnull);

	exec_report rep;
	int r = read_report(prep[0], &rep);
	close_fd(&prep[0]);
	if (r != 0) {
		if (r == 1) {
			static const char *const stage[] = { "chdir", "execve",
				                             "set up" };
			rc = -rep.err;
			msg_set(msg, rc, "kh_proc_spawn %s: %s %s: %s", p->name,
			        stage[rep.stage >= 0 && rep.stage <= 2
			                      ? rep.stage
			                      : 2],
			        rep.stage == 0 && opts->cwd ? opts->cwd : path,
			        strerror(rep.err));
		} else {
			rc = r;
			msg_set(msg, rc,
			        "kh_proc_spawn %s: no word from the child after "
			        "fork: %s",
			        p->name, strerror(-r));
		}
		kill_and_reap(p);
		goto fail;
	}
	r = pthread_create(&p->reader, NULL, reader_main, p);
	if (r != 0) {
		rc = -r;
		msg_set(msg, rc, "kh_proc_spawn %s: pthread_create: %s", p->name,
		        strerror(r));
		kill_and_reap(p);
		goto fail;
	}
	p->reader_running = true;
	free(envp);
	*out = p;
	return 0;

fail:
	close_fd(&pout[1]);
	close_fd(&perr[1]);
	close_fd(&prep[0]);
	close_fd(&prep[1]);
	close_fd(&devnull);
	if (p->out_fd < 0)
		close_fd(&pout[0]);
	if (p->err_fd < 0)
		close_fd(&perr[0]);
	if (p->wake_r < 0) {
		close_fd(&pwake[0]);
		close_fd(&pwake[1]);
	}
	free(envp);
	proc_free(p);
	return rc;
}

/* ---- the rest of the kh_proc API ------------------------------------- */

/* parse_ready() : splits "ready <name> <address>" into the ready strings. */
static int parse_ready(kh_proc *p, const char *line, kh_msg *msg)
{
	const char *name = NULL, *sp = NULL;
	if (!strncmp(line, "ready ", 6)) {
		name = line + 6;
		sp = strchr(name, ' ');
	}
	const char *addr = sp ? sp + 1 : NULL;
	size_t name_len = sp ? (size_t)(sp - name) : 0;
	if (!sp || name_len == 0 || strcspn(name, "\t\r\v\f") < name_len ||
	    !*addr || strpbrk(addr, " \t\r\v\f")) {
		msg_set(msg, -EPROTO,
		        "%s: first stdout line is not `ready <name> <address>`: "
		        "\"%.200s\"",
		        p->name, line);
		return -EPROTO;
	}
	p->ready_name = strndup(name, name_len);
	p->ready_addr = strdup(addr);
	if (!p->ready_name || !p->ready_addr) {
		free(p->ready_name);
		free(p->ready_addr);
		p->ready_name = p->ready_addr = NULL;
		return msg_set(msg, -ENOMEM, "kh_proc_wait_ready: out of memory");
	}
	return 0;
}

int kh_proc_wait_ready(kh_proc *p, int timeout_ms, const char **name,
                       const char **address, kh_msg *msg)
{
	msg_clear(msg);
	if (!p || timeout_ms < 0)
		return msg_set(msg, -EINVAL, "kh_proc_wait_ready: bad argument");
	if (!p->ready_name) {
		int64_t t0 = now_ms();
		int rc = wait_for(p, t0 + timeout_ms, check_line, NULL);
		if (rc == 1) {
			rc = parse_ready(p, p->line, msg);
		} else if (rc == -ETIMEDOUT) {
			msg_set(msg, rc, "%s: no ready line within %d ms",
			        p->name, timeout_ms);
		} else if (rc == -ECHILD) {
			/* Stdout ended: the child is most likely exiting. */
			reap_bounded(p, now_ms() + KH_EOF_GRACE_MS);
			if (p->reaped)
				eof_grace(p);
			msg_set(msg, rc,
			        "%s: %s before printing its ready line "
			        "(after %lld ms)",
			        p->name,
			        p->reaped ? "ended" : "closed stdout",
			        (long long)(now_ms() - t0));
		} else {
			msg_set(msg, rc, "kh_proc_wait_ready %s: %s", p->name,
			        strerror(-rc));
		}
		if (rc != 0) {
			add_status(p, msg);
			add_stderr_tail(p, msg);
			return rc;
		}
	}
	if (name)
		*name = p->ready_name;
	if (address)
		*address = p->ready_addr;
	return 0;
}

int kh_proc_read_line(kh_proc *p, int timeout_ms, const char **line,
                      kh_msg *msg)
{
	msg_clear(msg);
	if (!p || !line || timeout_ms < 0)
		return msg_set(msg, -EINVAL, "kh_proc_read_line: bad argument");
	int rc = wait_for(p, now_ms() + timeout_ms, check_line, NULL);
	if (rc == 1) {
		*line = p->line;
		return 0;
	}
	if (rc == -ETIMEDOUT)
		msg_set(msg, rc, "%s: no stdout line within %d ms", p->name,
		        timeout_ms);
	else if (rc == -ECHILD)
		msg_set(msg, rc, "%s: stdout ended", p->name);
	else
		msg_set(msg, rc, "kh_proc_read_line %s: %s", p->name,
		        strerror(-rc));
	add_status(p, msg);
	add_stderr_tail(p, msg);
	return rc;
}

int kh_proc_wait_stderr(kh_proc *p, const char *needle, int timeout_ms,
                        kh_msg *msg)
{
	msg_clear(msg);
	if (!p || !needle || !*needle || timeout_ms < 0)
		return msg_set(msg, -EINVAL, "kh_proc_wait_stderr: bad argument");
	int rc = wait_for(p, now_ms() + timeout_ms, check_stderr,
	                  (void *)needle);
	if (rc == 1)
		return 0;
	if (rc == -ETIMEDOUT)
		msg_set(msg, rc, "%s: \"%s\" not on stderr within %d ms",
		        p->name, needle, timeout_ms);
	else if (rc == -ECHILD)
		msg_set(msg, rc, "%s: stderr ended without \"%s\"", p->name,
		        needle);
	else
		msg_set(msg, rc, "kh_proc_wait_stderr %s: %s", p->name,
		        strerror(-rc));
	add_status(p, msg);
	add_stderr_tail(p, msg);
	return rc;
}

int kh_proc_signal(kh_proc *p, int signo, kh_msg *msg)
{
	msg_clear(msg);
	if (!p)
		return msg_set(msg, -EINVAL, "kh_proc_signal: p is NULL");
	if (p->reaped)
		return msg_set(msg, -ESRCH,
		               "%s: already reaped; not sending signal %d",
		               p->name, signo);
	if (kill(p->pid, signo) != 0) {
		int e = errno;
		return msg_set(msg, -e, "%s: kill(%d, %d): %s", p->name,
		               (int)p->pid, signo, strerror(e));
	}
	return 0;
}

int kh_proc_wait_exit(kh_proc *p, int timeout_ms, bool kill_on_timeout,
                      kh_exit *out, kh_msg *msg)
{
	msg_clear(msg);
	if (!p || timeout_ms < 0)
		return msg_set(msg, -EINVAL, "kh_proc_wait_exit: bad argument");
	bool was_reaped = p->reaped;
	int r = reap_bounded(p, now_ms() + timeout_ms);
	int rc = 0;
	if (r < 0)
		return msg_set(msg, r, "%s: waitpid: %s", p->name,
		               strerror(-r));
	if (r == 0) {
		rc = -ETIMEDOUT;
		msg_set(msg, rc, "%s: still running after %d ms", p->name,
		        timeout_ms);
		if (kill_on_timeout) {
			r = kill_and_reap(p);
			msg_add(msg, r == 1 ? "; sent SIGKILL"
			                    : "; sent SIGKILL, still not reaped");
		}
		add_stderr_tail(p, msg);
	}
	if (!p->reaped)
		return rc;
	if (!was_reaped)
		eof_grace(p);
	if (out)
		*out = p->status;
	return rc;
}

int kh_proc_stop(kh_proc *p, int timeout_ms, kh_exit *out, kh_msg *msg)
{
	if (!p)
		return msg_set(msg, -EINVAL, "kh_proc_stop: p is NULL");
	if (!p->reaped) {
		int rc = kh_proc_signal(p, SIGTERM, msg);
		if (rc != 0 && rc != -ESRCH)
			return rc;
	}
	return kh_proc_wait_exit(p, timeout_ms, true, out, msg);
}

bool kh_proc_running(kh_proc *p)
{
	return p && reap_nohang(p) == 0;
}

pid_t kh_proc_pid(const kh_proc *p)
{
	return p ? p->pid : -1;
}

double kh_pid_cpu_s(pid_t pid)
{
	char path[64], buf[2048];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	/* fields after ")": state ppid pgrp session tty tpgid flags minflt
	 * cminflt majflt cmajflt utime stime */
	if (p)
		sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

long kh_pid_hwm_kib(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	long kib = 0;
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "VmHWM:", 6) == 0)
			kib = atol(line + 6);
	if (f)
		fclose(f);
	return kib;
}

const char *kh_proc_name(const kh_proc *p)
{
	return p ? p->name : NULL;
}

static char *capture_dup(kh_proc *p, const kh_capture *c, size_t *len)
{
	pthread_mutex_lock(&p->mu);
	char *s = malloc(c->len + 1);
	if (s) {
		if (c->len)
			memcpy(s, c->data, c->len);
		s[c->len] = '\0';
		if (len)
			*len = c->len;
	}
	pthread_mutex_unlock(&p->mu);
	return s;
}

char *kh_proc_stdout_dup(kh_proc *p, size_t *len)
{
	return p ? capture_dup(p, &p->out, len) : NULL;
}

char *kh_proc_stderr_dup(kh_proc *p, size_t *len)
{
	return p ? capture_dup(p, &p->err, len) : NULL;
}

uint64_t kh_proc_stderr_total(kh_proc *p)
{
	if (!p)
		return 0;
	pthread_mutex_lock(&p->mu);
	uint64_t t = p->err.total;
	pthread_mutex_unlock(&p->mu);
	return t;
}

void kh_proc_destroy(kh_proc *p)
{
	if (!p)
		return;
	if (!p->reaped && kill_and_reap(p) != 1) {
		char warn[160];
		int n = snprintf(warn, sizeof(warn),
		                 "kh_proc_destroy: %s (pid %d) did not die "
		                 "within %d ms of SIGKILL; leaving it\n",
		                 p->name, (int)p->pid, KH_KILL_REAP_MS);
		if (n > 0)
			write_all(STDERR_FILENO, warn,
			          (size_t)n < sizeof(warn) ? (size_t)n
			                                   : sizeof(warn) - 1);
	}
	if (p->reader_running) {
		write_all(p->wake_w, "x", 1);
		pthread_join(p->reader, NULL);
		p->reader_running = false;
	}
	proc_free(p);
}
