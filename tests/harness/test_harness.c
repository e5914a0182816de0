/*
 * test_harness.c : the process-test harness, exercised against fake_daemon
 * (FAKE_DAEMON_PATH, set by CMake). Group "harness".
 *
 * Covers: temp dirs and rmtree, free ports and ipc URLs, spawning (argv,
 * extra env, exec failures), the ready line (parsed, timed out, child gone
 * first, contract broken), later stdout lines, stderr waits and capture
 * bounds under megabytes of output, signals and exit status, kill on
 * timeout, the verbose tee, and that destroy leaves no process, zombie or
 * descriptor behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#ifndef FAKE_DAEMON_PATH
#error "FAKE_DAEMON_PATH must be defined by the build"
#endif

/* KH_OK(expr, m) : expr must return 0; otherwise fail with the message. */
#define KH_OK(expr, m)                                                         \
	do {                                                                   \
		int kh_rc_ = (expr);                                           \
		if (kh_rc_ != 0)                                               \
			fail_msg("%s returned %d: %s", #expr, kh_rc_,          \
			         (m).text);                                    \
	} while (0)

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* spawn_fake() : starts fake_daemon with `args` (NULL-terminated, may be
 * NULL) and optional extra env; fails the test on error. */
static kh_proc *spawn_opts(const char *name, const char *const *args,
                           const char *const *env, size_t cap)
{
	const char *argv[24] = { FAKE_DAEMON_PATH };
	size_t n = 1;
	while (args && args[n - 1] && n < 23) {
		argv[n] = args[n - 1];
		n++;
	}
	argv[n] = NULL;
	kh_spawn_opts o = { .argv = argv, .env = env, .name = name,
		            .capture_max = cap };
	kh_proc *p = NULL;
	kh_msg m;
	KH_OK(kh_proc_spawn(&p, &o, &m), m);
	assert_non_null(p);
	return p;
}

static kh_proc *spawn_fake(const char *const *args)
{
	return spawn_opts("fake", args, NULL, 0);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own descriptor */
}

static void assert_no_children(void)
{
	int st;
	errno = 0;
	assert_int_equal(waitpid(-1, &st, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* ---- scratch space ---------------------------------------------------- */

static void test_tmpdir_create_and_remove(void **state)
{
	(void)state;
	kh_msg m;
	char *dir = NULL;
	KH_OK(kh_tmpdir_create("harness", &dir, &m), m);
	assert_non_null(dir);
	assert_int_equal(dir[0], '/');
	assert_non_null(strstr(dir, "/kiseki-harness-"));
	struct stat st;
	assert_int_equal(lstat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);

	/* A small tree: files, nested dirs, a read-only dir, and a symlink to
	 * a directory that must survive (rmtree does not follow links). */
	char *keep = NULL;
	KH_OK(kh_tmpdir_create("keep", &keep, &m), m);
	char path[4096], keep_file[4096];
	snprintf(keep_file, sizeof(keep_file), "%s/precious", keep);
	write_file(keep_file, "x");
	snprintf(path, sizeof(path), "%s/a", dir);
	write_file(path, "a");
	snprintf(path, sizeof(path), "%s/sub", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/sub/deeper", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/sub/deeper/b", dir);
	write_file(path, "b");
	snprintf(path, sizeof(path), "%s/sub/deeper", dir);
	assert_int_equal(chmod(path, 0500), 0);
	snprintf(path, sizeof(path), "%s/link", dir);
	assert_int_equal(symlink(keep, path), 0);

	KH_OK(kh_rmtree(dir, &m), m);
	errno = 0;
	assert_int_equal(lstat(dir, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(lstat(keep_file, &st), 0);
	/* Removing what is gone is fine. */
	KH_OK(kh_rmtree(dir, &m), m);

	/* TMPDIR is honoured. */
	char *old = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) : NULL;
	setenv("TMPDIR", keep, 1);
	char *inner = NULL;
	KH_OK(kh_tmpdir_create(NULL, &inner, &m), m);
	assert_int_equal(strncmp(inner, keep, strlen(keep)), 0);
	assert_non_null(strstr(inner, "/kiseki-test-"));
	if (old)
		setenv("TMPDIR", old, 1);
	else
		unsetenv("TMPDIR");
	free(old);
	free(inner);

	KH_OK(kh_rmtree(keep, &m), m);
	assert_int_equal(lstat(keep, &st), -1);
	free(keep);
	free(dir);

	/* Guards. */
	assert_int_equal(kh_rmtree("/", &m), -EINVAL);
	assert_non_null(strstr(m.text, "refusing"));
	assert_int_equal(kh_rmtree("//", NULL), -EINVAL);
	assert_int_equal(kh_rmtree("", NULL), -EINVAL);
	assert_int_equal(kh_rmtree("relative/dir", NULL), -EINVAL);
	assert_int_equal(kh_rmtree("/tmp/../etc", NULL), -EINVAL);
	assert_int_equal(kh_rmtree(NULL, NULL), -EINVAL);
	assert_int_equal(kh_tmpdir_create("a/b", &inner, &m), -EINVAL);
	assert_int_equal(kh_tmpdir_create("x", NULL, &m), -EINVAL);
}

static void test_free_port_and_ipc_url(void **state)
{
	(void)state;
	kh_msg m;
	uint16_t port = 0;
	KH_OK(kh_free_port(&port, &m), m);
	assert_true(port != 0);

	/* The port is bindable and listenable on loopback. */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET,
		                  .sin_port = htons(port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	close(fd);

	char *dir = NULL;
	KH_OK(kh_tmpdir_create("ipc", &dir, &m), m);
	char url[256], want[256];
	KH_OK(kh_ipc_url(dir, "collector.ipc", url, sizeof(url), &m), m);
	snprintf(want, sizeof(want), "ipc://%s/collector.ipc", dir);
	assert_string_equal(url, want);

	char longname[200];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(kh_ipc_url(dir, longname, url, sizeof(url), &m),
	                 -ENAMETOOLONG);
	assert_non_null(strstr(m.text, "unix socket"));
	assert_int_equal(kh_ipc_url(dir, "x", url, 8, &m), -ENOSPC);
	assert_int_equal(kh_ipc_url(dir, "", url, sizeof(url), &m), -EINVAL);
	KH_OK(kh_rmtree(dir, &m), m);
	free(dir);
	assert_int_equal(kh_free_port(NULL, NULL), -EINVAL);
}

/* ---- the ready line --------------------------------------------------- */

static void test_ready_line_parsed(void **state)
{
	(void)state;
	kh_msg m;
	const char *name = NULL, *addr = NULL;

	/* Port 0: the daemon picks, the ready line tells. */
	kh_proc *p = spawn_fake((const char *[]){ "--listen-port", "0", NULL });
	KH_OK(kh_proc_wait_ready(p, 10000, &name, &addr, &m), m);
	assert_string_equal(name, "fake");
	unsigned port = 0;
	char tail = 0;
	assert_int_equal(sscanf(addr, "tcp://127.0.0.1:%u%c", &port, &tail), 1);
	assert_true(port > 0 && port < 65536);
	/* The address is real: we can connect to it. */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET,
		                  .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	/* A second call answers at once with the same strings. */
	const char *name2 = NULL, *addr2 = NULL;
	KH_OK(kh_proc_wait_ready(p, 0, &name2, &addr2, &m), m);
	assert_ptr_equal(name, name2);
	assert_ptr_equal(addr, addr2);
	assert_string_equal(kh_proc_name(p), "fake");
	assert_true(kh_proc_pid(p) > 0);
	assert_true(kh_proc_running(p));
	kh_exit ex;
	KH_OK(kh_proc_stop(p, 5000, &ex, &m), m);
	assert_int_equal(ex.code, 0);
	assert_int_equal(ex.signo, 0);
	char *out = kh_proc_stdout_dup(p, NULL);
	assert_non_null(out);
	assert_int_equal(strncmp(out, "ready fake tcp://127.0.0.1:", 27), 0);
	free(out);
	kh_proc_destroy(p);

	/* A port chosen with kh_free_port, and a different daemon name. */
	uint16_t free_port;
	KH_OK(kh_free_port(&free_port, &m), m);
	char pbuf[16], want[64];
	snprintf(pbuf, sizeof(pbuf), "%u", (unsigned)free_port);
	snprintf(want, sizeof(want), "tcp://127.0.0.1:%u", (unsigned)free_port);
	p = spawn_opts(NULL,
	               (const char *[]){ "--listen-port", pbuf, "--name",
	                                 "collector", NULL },
	               NULL, 0);
	assert_string_equal(kh_proc_name(p), "fake_daemon"); /* basename */
	KH_OK(kh_proc_wait_ready(p, 10000, &name, &addr, &m), m);
	assert_string_equal(name, "collector");
	assert_string_equal(addr, want);
	kh_proc_destroy(p);
}

static void test_ready_timeout(void **state)
{
	(void)state;
	kh_msg m;
	kh_proc *p = spawn_fake((const char *[]){ "--delay-ready", "5000",
	                                          NULL });
	int64_t t0 = mono_ms();
	const char *name = "untouched";
	assert_int_equal(kh_proc_wait_ready(p, 200, &name, NULL, &m),
	                 -ETIMEDOUT);
	int64_t took = mono_ms() - t0;
	assert_true(took >= 195);
	assert_true(took < 2000);
	assert_string_equal(name, "untouched");
	assert_non_null(strstr(m.text, "no ready line within 200 ms"));
	assert_non_null(strstr(m.text, "still running"));
	assert_non_null(strstr(m.text, "fake: starting"));
	/* destroy kills it without waiting for the delay */
	t0 = mono_ms();
	kh_proc_destroy(p);
	assert_true(mono_ms() - t0 < 2000);
	assert_no_children();
}

static void test_exit_before_ready(void **state)
{
	(void)state;
	kh_msg m;
	kh_proc *p = spawn_fake((const char *[]){ "--exit-before-ready", "3",
	                                          NULL });
	assert_int_equal(kh_proc_wait_ready(p, 10000, NULL, NULL, &m), -ECHILD);
	assert_non_null(strstr(m.text, "before printing its ready line"));
	assert_non_null(strstr(m.text, "exited with code 3"));
	assert_non_null(strstr(m.text, "failing before ready with code 3"));
	assert_false(kh_proc_running(p));
	kh_exit ex = { 99, 99 };
	KH_OK(kh_proc_wait_exit(p, 0, false, &ex, &m), m);
	assert_int_equal(ex.code, 3);
	assert_int_equal(ex.signo, 0);
	kh_proc_destroy(p);
}

static void test_ready_contract_enforced(void **state)
{
	(void)state;
	static const char *const bad[] = { "hello world", "ready onlyname",
		                           "ready a b c", "ready  x y",
		                           "ready x " };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		kh_msg m;
		kh_proc *p = spawn_fake(
			(const char *[]){ "--pre-line", bad[i], NULL });
		assert_int_equal(kh_proc_wait_ready(p, 10000, NULL, NULL, &m),
		                 -EPROTO);
		assert_non_null(strstr(m.text, bad[i]));
		assert_non_null(strstr(m.text, "ready <name> <address>"));
		kh_proc_destroy(p);
	}
}

/* ---- stdout lines, env, stderr --------------------------------------- */

static void test_read_lines_and_env(void **state)
{
	(void)state;
	kh_msg m;
	setenv("KH_TEST_PARENT", "from-parent", 1);
	setenv("KH_TEST_VAR", "parent-value", 1);
	kh_proc *p = spawn_opts(
		"echo",
		(const char *[]){ "--echo-lines", "3", "--print-env",
		                  "KH_TEST_VAR", NULL },
		(const char *[]){ "KH_TEST_VAR=child-value", "KH_NEW=1", NULL },
		0);
	KH_OK(kh_proc_wait_ready(p, 10000, NULL, NULL, &m), m);
	const char *line = NULL;
	char want[32];
	for (int i = 1; i <= 3; i++) {
		KH_OK(kh_proc_read_line(p, 5000, &line, &m), m);
		snprintf(want, sizeof(want), "line %d", i);
		assert_string_equal(line, want);
	}
	KH_OK(kh_proc_read_line(p, 5000, &line, &m), m);
	assert_string_equal(line, "env KH_TEST_VAR=child-value");
	assert_int_equal(kh_proc_read_line(p, 100, &line, &m), -ETIMEDOUT);
	assert_non_null(strstr(m.text, "no stdout line within 100 ms"));
	kh_exit ex;
	KH_OK(kh_proc_stop(p, 5000, &ex, &m), m);
	assert_int_equal(ex.code, 0);
	assert_int_equal(kh_proc_read_line(p, 100, &line, &m), -ECHILD);
	kh_proc_destroy(p);

	/* Without an override the child sees our value. */
	p = spawn_fake((const char *[]){ "--print-env", "KH_TEST_PARENT",
	                                 NULL });
	KH_OK(kh_proc_wait_ready(p, 10000, NULL, NULL, &m), m);
	KH_OK(kh_proc_read_line(p, 5000, &line, &m), m);
	assert_string_equal(line, "env KH_TEST_PARENT=from-parent");
	kh_proc_destroy(p);
	unsetenv("KH_TEST_PARENT");
	unsetenv("KH_TEST_VAR");
}

static void test_big_stderr_no_deadlock(void **state)
{
	(void)state;
	kh_msg m;
	/* 4 MiB of stderr before the ready line: far over a pipe's 64 KiB.
	 * The test does not call into the harness while it is written, so only
	 * the background reader can keep the child going. */
	const uint64_t spam = 4u << 20;
	kh_proc *p = spawn_fake((const char *[]){ "--spam-stderr", "4194304",
	                                          NULL });
	int64_t deadline = mono_ms() + 20000;
	while (kh_proc_stderr_total(p) < spam && mono_ms() < deadline) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	assert_true(kh_proc_stderr_total(p) >= spam);
	KH_OK(kh_proc_wait_ready(p, 20000, NULL, NULL, &m), m);
	KH_OK(kh_proc_wait_stderr(p, "fake: serving", 5000, &m), m);
	size_t len = 0;
	char *err = kh_proc_stderr_dup(p, &len);
	assert_non_null(err);
	assert_int_equal(len, KH_CAPTURE_DEFAULT); /* bounded, tail kept */
	assert_int_equal(strlen(err), len);
	assert_non_null(strstr(err, "spam-end"));
	assert_null(strstr(err, "fake: starting")); /* the head was dropped */
	free(err);
	kh_exit ex;
	KH_OK(kh_proc_stop(p, 5000, &ex, &m), m);
	assert_int_equal(ex.code, 0);
	kh_proc_destroy(p);

	/* A smaller bound, and the failure message quotes only a tail. */
	p = spawn_opts("small",
	               (const char *[]){ "--spam-stderr", "300000",
	                                 "--exit-before-ready", "4", NULL },
	               NULL, 65536);
	assert_int_equal(kh_proc_wait_ready(p, 20000, NULL, NULL, &m), -ECHILD);
	assert_non_null(strstr(m.text, "failing before ready with code 4"));
	assert_true(strlen(m.text) < KH_MSG_MAX);
	err = kh_proc_stderr_dup(p, &len);
	assert_int_equal(len, 65536);
	free(err);
	assert_true(kh_proc_stderr_total(p) > 300000);
	kh_proc_destroy(p);
}

static void test_wait_stderr(void **state)
{
	(void)state;
	kh_msg m;
	kh_proc *p = spawn_fake(NULL);
	KH_OK(kh_proc_wait_stderr(p, "fake: serving", 10000, &m), m);
	assert_int_equal(kh_proc_wait_stderr(p, "never printed", 100, &m),
	                 -ETIMEDOUT);
	assert_non_null(strstr(m.text, "never printed"));
	kh_exit ex;
	KH_OK(kh_proc_stop(p, 5000, &ex, &m), m);
	KH_OK(kh_proc_wait_stderr(p, "bye", 0, &m), m);
	assert_int_equal(kh_proc_wait_stderr(p, "never printed", 1000, &m),
	                 -ECHILD);
	assert_int_equal(kh_proc_wait_stderr(p, "", 10, &m), -EINVAL);
	kh_proc_destroy(p);
}

/* ---- signals and exit ------------------------------------------------- */

static void test_sigterm_clean_exit(void **state)
{
	(void)state;
	kh_msg m;
	kh_proc *p = spawn_fake(NULL);
	KH_OK(kh_proc_wait_ready(p, 10000, NULL, NULL, &m), m);
	KH_OK(kh_proc_signal(p, SIGTERM, &m), m);
	kh_exit ex = { 99, 99 };
	KH_OK(kh_proc_wait_exit(p, 5000, false, &ex, &m), m);
	assert_int_equal(ex.code, 0);
	assert_int_equal(ex.signo, 0);
	char *err = kh_proc_stderr_dup(p, NULL);
	assert_non_null(strstr(err, "bye\n"));
	free(err);
	/* Reaped: no more signals, and waiting again is harmless. */
	assert_int_equal(kh_proc_signal(p, SIGTERM, &m), -ESRCH);
	KH_OK(kh_proc_wait_exit(p, 0, false, &ex, &m), m);
	assert_int_equal(ex.code, 0);
	kh_proc_destroy(p);
}

static void test_ignore_term_then_kill(void **state)
{
	(void)state;
	kh_msg m;
	kh_proc *p = spawn_fake((const char *[]){ "--ignore-term", NULL });
	KH_OK(kh_proc_wait_ready(p, 10000, NULL, NULL, &m), m);
	KH_OK(kh_proc_signal(p, SIGTERM, &m), m);
	KH_OK(kh_proc_wait_stderr(p, "ignoring SIGTERM", 5000, &m), m);
	kh_exit ex = { 99, 99 };
	assert_int_equal(kh_proc_wait_exit(p, 0, false, &ex, &m), -ETIMEDOUT);
	assert_int_equal(kh_proc_wait_exit(p, 150, false, &ex, &m), -ETIMEDOUT);
	assert_non_null(strstr(m.text, "still running"));
	assert_int_equal(ex.code, 99); /* untouched while it runs */
	assert_true(kh_proc_running(p));
	/* stop: SIGTERM again, ignored again, then SIGKILL on timeout */
	int64_t t0 = mono_ms();
	assert_int_equal(kh_proc_stop(p, 200, &ex, &m), -ETIMEDOUT);
	assert_true(mono_ms() - t0 < 3000);
	assert_non_null(strstr(m.text, "sent SIGKILL"));
	assert_int_equal(ex.code, -1);
	assert_int_equal(ex.signo, SIGKILL);
	assert_false(kh_proc_running(p));
	kh_proc_destroy(p);

	/* A plain SIGKILL through kh_proc_signal. */
	p = spawn_fake((const char *[]){ "--ignore-term", NULL });
	KH_OK(kh_proc_wait_ready(p, 10000, NULL, NULL, &m), m);
	KH_OK(kh_proc_signal(p, SIGKILL, &m), m);
	KH_OK(kh_proc_wait_exit(p, 5000, false, &ex, &m), m);
	assert_int_equal(ex.signo, 9);
	assert_int_equal(ex.code, -1);
	kh_proc_destroy(p);
}

/* ---- spawn failures, cleanup, verbose tee ------------------------------ */

static void test_child_inherits_only_stdio(void **state)
{
	(void)state;
	kh_msg m;
	/* A descriptor without O_CLOEXEC in the test process must not reach
	 * the child; neither may the harness's own pipes. */
	int leaky = open("/dev/null", O_RDONLY);
	assert_true(leaky > 2);
	kh_proc *other = spawn_fake(NULL); /* its pipes are open meanwhile */
	kh_proc *p = spawn_fake((const char *[]){ "--list-fds", NULL });
	KH_OK(kh_proc_wait_ready(p, 10000, NULL, NULL, &m), m);
	const char *line = NULL;
	KH_OK(kh_proc_read_line(p, 5000, &line, &m), m);
	assert_string_equal(line, "fds 0 1 2");
	kh_proc_destroy(p);
	kh_proc_destroy(other);
	close(leaky);
}

static void test_spawn_errors(void **state)
{
	(void)state;
	kh_msg m;
	kh_proc *p = NULL;
	int fds = count_fds();

	const char *argv1[] = { "/nonexistent/kh-no-such-binary", NULL };
	kh_spawn_opts o = { .argv = argv1 };
	assert_int_equal(kh_proc_spawn(&p, &o, &m), -ENOENT);
	assert_null(p);
	assert_non_null(strstr(m.text, "execve"));
	assert_non_null(strstr(m.text, "kh-no-such-binary"));

	const char *argv2[] = { FAKE_DAEMON_PATH, NULL };
	o = (kh_spawn_opts){ .argv = argv2, .cwd = "/nonexistent/dir" };
	assert_int_equal(kh_proc_spawn(&p, &o, &m), -ENOENT);
	assert_non_null(strstr(m.text, "chdir"));

	o = (kh_spawn_opts){ .argv = NULL };
	assert_int_equal(kh_proc_spawn(&p, &o, &m), -EINVAL);
	assert_int_equal(kh_proc_spawn(NULL, NULL, NULL), -EINVAL);

	/* The exec-failure children were reaped; nothing leaked. */
	assert_no_children();
	assert_int_equal(count_fds(), fds);

	/* A working cwd is applied. */
	char *dir = NULL;
	KH_OK(kh_tmpdir_create("cwd", &dir, &m), m);
	const char *argv3[] = { "/bin/sh", "-c", "pwd; echo ready sh x", NULL };
	o = (kh_spawn_opts){ .argv = argv3, .cwd = dir };
	KH_OK(kh_proc_spawn(&p, &o, &m), m);
	assert_int_equal(kh_proc_wait_ready(p, 10000, NULL, NULL, &m), -EPROTO);
	assert_non_null(strstr(m.text, dir));
	kh_proc_destroy(p);
	KH_OK(kh_rmtree(dir, &m), m);
	free(dir);
}

static void test_destroy_leaves_nothing(void **state)
{
	(void)state;
	kh_msg m;
	int fds = count_fds();
	kh_proc *p[4];
	p[0] = spawn_fake(NULL);
	p[1] = spawn_fake((const char *[]){ "--ignore-term", NULL });
	p[2] = spawn_fake((const char *[]){ "--delay-ready", "10000", NULL });
	p[3] = spawn_fake((const char *[]){ "--exit-before-ready", "0", NULL });
	KH_OK(kh_proc_wait_ready(p[0], 10000, NULL, NULL, &m), m);
	KH_OK(kh_proc_wait_ready(p[1], 10000, NULL, NULL, &m), m);
	KH_OK(kh_proc_wait_stderr(p[2], "fake: starting", 10000, &m), m);
	assert_true(count_fds() > fds);
	pid_t pids[4];
	int64_t t0 = mono_ms();
	for (int i = 0; i < 4; i++) {
		pids[i] = kh_proc_pid(p[i]);
		kh_proc_destroy(p[i]);
	}
	assert_true(mono_ms() - t0 < 3000);
	for (int i = 0; i < 4; i++) {
		errno = 0;
		assert_int_equal(kill(pids[i], 0), -1);
		assert_int_equal(errno, ESRCH);
	}
	assert_no_children();
	assert_int_equal(count_fds(), fds);
	kh_proc_destroy(NULL);
}

static void test_verbose_tee(void **state)
{
	(void)state;
	kh_msg m;
	/* Point our stderr at a pipe for the duration. */
	int pfd[2];
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	int saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	assert_true(saved >= 0);
	fflush(stderr);
	assert_int_equal(dup2(pfd[1], STDERR_FILENO), STDERR_FILENO);
	setenv(KH_VERBOSE_ENV, "1", 1);

	kh_proc *p = spawn_opts("tee-test", NULL, NULL, 0);
	int rc_ready = kh_proc_wait_ready(p, 10000, NULL, NULL, &m);
	kh_exit ex = { 99, 99 };
	int rc_stop = kh_proc_stop(p, 5000, &ex, NULL);
	kh_proc_destroy(p); /* joins the reader: every tee write is done */

	unsetenv(KH_VERBOSE_ENV);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(pfd[1]);
	char buf[8192];
	size_t got = 0;
	ssize_t r;
	while (got < sizeof(buf) - 1 &&
	       (r = read(pfd[0], buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)r;
	buf[got] = '\0';
	close(pfd[0]);

	KH_OK(rc_ready, m);
	assert_int_equal(rc_stop, 0);
	assert_int_equal(ex.code, 0);
	assert_non_null(strstr(buf, "[tee-test] fake: starting"));
	assert_non_null(strstr(buf, "[tee-test] fake: serving\n"));
	assert_non_null(strstr(buf, "[tee-test] bye\n"));
	/* stdout is not tee'd */
	assert_null(strstr(buf, "ready fake"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tmpdir_create_and_remove),
		cmocka_unit_test(test_free_port_and_ipc_url),
		cmocka_unit_test(test_ready_line_parsed),
		cmocka_unit_test(test_ready_timeout),
		cmocka_unit_test(test_exit_before_ready),
		cmocka_unit_test(test_ready_contract_enforced),
		cmocka_unit_test(test_read_lines_and_env),
		cmocka_unit_test(test_big_stderr_no_deadlock),
		cmocka_unit_test(test_wait_stderr),
		cmocka_unit_test(test_sigterm_clean_exit),
		cmocka_unit_test(test_ignore_term_then_kill),
		cmocka_unit_test(test_child_inherits_only_stdio),
		cmocka_unit_test(test_spawn_errors),
		cmocka_unit_test(test_destroy_leaves_nothing),
		cmocka_unit_test(test_verbose_tee),
	};
	return cmocka_run_group_tests_name("harness", tests, NULL, NULL);
}
