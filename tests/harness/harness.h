/*
 * harness.h : the process-test harness (library ksk_harness).
 *
 * Exports what a process-level test needs to drive real Kiseki binaries:
 *  - scratch space: kh_tmpdir_create(), kh_rmtree(), kh_ipc_url();
 *  - a free loopback TCP port: kh_free_port();
 *  - kh_proc, one spawned child with stdout and stderr captured:
 *    kh_proc_spawn(), kh_proc_wait_ready() (the `ready <name> <address>`
 *    line), kh_proc_read_line(), kh_proc_wait_stderr(), kh_proc_signal(),
 *    kh_proc_wait_exit(), kh_proc_stop(), kh_proc_stdout_dup(),
 *    kh_proc_stderr_dup(), kh_proc_destroy().
 *
 * Hides: the reader thread, the capture buffers and the fork/exec details
 * (kh_proc is opaque).
 *
 * Error convention, the same for every fallible function here: the return
 * value is 0 on success or a negative errno value, and when `msg` is not
 * NULL a one-paragraph human reason is written into it (msg->text is "" on
 * success). The codes a test can rely on:
 *   -ETIMEDOUT  the deadline passed first;
 *   -ECHILD     the child exited (or closed stdout) before the awaited event;
 *   -EPROTO     stdout broke the readiness contract (see kh_proc_wait_ready);
 *   -EINVAL     bad argument;  -ENOMEM  out of memory;
 *   -ESRCH      the child was already reaped (kh_proc_signal);
 *   other       -errno of the failing system call, named in msg.
 * The harness is self-contained on purpose (it does not use kiseki/err.h or
 * link ksk_common), so it still builds and reports clearly while the code
 * under test is broken.
 *
 * Time: every wait takes `timeout_ms` (>= 0; 0 means "check once, do not
 * wait") measured on CLOCK_MONOTONIC. Nothing sleeps blindly: waits block on
 * a condition variable fed by the reader thread, re-checking waitpid(WNOHANG)
 * every few milliseconds.
 *
 * Threads: kh_tmpdir_create, kh_rmtree, kh_ipc_url and kh_free_port are
 * thread-safe. A kh_proc belongs to the thread that spawned it ("owner
 * thread only" for every kh_proc_* call); the harness's own reader thread
 * never touches the caller's data.
 */
#ifndef KH_HARNESS_H
#define KH_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Bytes of message text a kh_msg holds (including the NUL). */
#define KH_MSG_MAX 4096

/* Default bound on each captured stream (stdout, stderr): 1 MiB, tail kept. */
#define KH_CAPTURE_DEFAULT ((size_t)1 << 20)

/* Bytes of the child's stderr tail quoted in failure messages. */
#define KH_MSG_TAIL 1536

/* Environment variable that turns on tee-ing children's stderr to ours. */
#define KH_VERBOSE_ENV "KSK_HARNESS_VERBOSE"

/* kh_msg : the human reason for a failure. Lives in the caller's stack;
 * no allocation. */
typedef struct kh_msg {
	char text[KH_MSG_MAX]; /* NUL-terminated; "" when nothing failed */
} kh_msg;

/* ---- scratch space and addresses ------------------------------------- */

/*! kh_tmpdir_create() : makes a fresh private directory (mode 0700) named
 *  "$TMPDIR/kiseki-<tag>-XXXXXX" (TMPDIR unset or empty: /tmp).
 *  @tag : a short label for humans; NULL means "test". Must not contain '/'.
 *  @out_path : receives the absolute path, allocated with malloc; the
 *              caller owns it and frees it with free() (usually after
 *              kh_rmtree()). Untouched on error.
 *  @return : 0, -EINVAL, -ENOMEM, or -errno of mkdtemp. Thread-safe. */
int kh_tmpdir_create(const char *tag, char **out_path, kh_msg *msg);

/*! kh_rmtree() : removes `path` and everything below it, without following
 *  symlinks or crossing into other mounts. Directories whose permissions
 *  forbid the removal (a test that chmod'ed 0500) are made writable first.
 *  A path that does not exist is success.
 *  Refuses (-EINVAL) an empty or relative path, "/" and paths containing
 *  "..", as a guard against a test passing garbage.
 *  @return : 0, -EINVAL, or -errno of the first failing call (removal goes
 *            on past failures and removes what it can). Thread-safe. */
int kh_rmtree(const char *path, kh_msg *msg);

/*! kh_ipc_url() : writes "ipc://<dir>/<name>" into `out`.
 *  Fails with -ENAMETOOLONG when the socket path would not fit in a
 *  sockaddr_un (107 bytes), and -ENOSPC when `out` (of `out_len` bytes) is
 *  too small. `dir` and `name` are only read. Thread-safe. */
int kh_ipc_url(const char *dir, const char *name, char *out, size_t out_len,
               kh_msg *msg);

/*! kh_free_port() : finds a TCP port free on 127.0.0.1 by binding port 0,
 *  reading the port back and closing the socket.
 *  Another process may take the port between this call and its use; tests
 *  that can, should prefer letting the daemon bind port 0 and read the
 *  address from its ready line.
 *  @out_port : receives the port (never 0). Untouched on error.
 *  @return : 0 or -errno of socket/bind/getsockname. Thread-safe. */
int kh_free_port(uint16_t *out_port, kh_msg *msg);

/* ---- child processes --------------------------------------------------- */

typedef struct kh_proc kh_proc;

/* kh_spawn_opts : what to start. Everything is only read during
 * kh_proc_spawn() (the harness copies what it keeps), so the caller may
 * pass stack arrays. Zero-initialise and set what you need. */
typedef struct kh_spawn_opts {
	const char *const *argv; /* NULL-terminated; argv[0] is the binary's path
	                            (executed as is: no PATH search) */
	const char *const *env;  /* NULL, or NULL-terminated "KEY=VALUE" entries
	                            added to our environment; a KEY we already
	                            have is replaced */
	const char *name;        /* label in messages and the verbose prefix;
	                            NULL: the basename of argv[0] */
	const char *cwd;         /* working directory of the child; NULL: ours */
	size_t capture_max;      /* bound per captured stream, tail kept;
	                            0: KH_CAPTURE_DEFAULT */
} kh_spawn_opts;

/* kh_exit : how a child ended. */
typedef struct kh_exit {
	int code;  /* exit status when it exited normally, else -1 */
	int signo; /* signal that killed it, else 0 */
} kh_exit;

/*! kh_proc_spawn() : starts the child described by `opts`.
 *  The child gets stdin from /dev/null, stdout and stderr on pipes that a
 *  harness thread drains continuously (so a chatty child never blocks), its
 *  own process group, default signal dispositions and an empty signal mask,
 *  and PR_SET_PDEATHSIG(SIGKILL): if the test process dies, so does the
 *  child. Every descriptor the harness opens is close-on-exec, and the child
 *  inherits no descriptor above 2.
 *  With KSK_HARNESS_VERBOSE=1 in our environment, each stderr line of the
 *  child is copied to our stderr as "[<name>] <line>".
 *  Exec failures (missing binary, not executable) are reported here, with
 *  the errno of execve, not as a child that exits 127.
 *  @out : receives the new handle, owned by the caller, released with
 *         kh_proc_destroy(). Untouched on error.
 *  @return : 0, -EINVAL, -ENOMEM, or -errno of pipe2/fork/execve/chdir.
 *  The calling thread becomes the owner thread; note that the kernel sends
 *  the death signal when this *thread* exits. */
int kh_proc_spawn(kh_proc **out, const kh_spawn_opts *opts, kh_msg *msg);

/*! kh_proc_wait_ready() : waits up to `timeout_ms` for the readiness line.
 *  The Kiseki contract (BRIEF.md, "Processes"): a daemon prints exactly one
 *  line `ready <name> <address>` on stdout when it is serving. The harness
 *  holds daemons to it: the first stdout line must be that line, with a
 *  non-empty name and address separated by single spaces and no further
 *  whitespace; anything else is -EPROTO (the line is quoted in msg).
 *  @name, @address : (each may be NULL) receive borrowed strings owned by
 *         `p`, valid until kh_proc_destroy(p). Calling again after success
 *         returns the same strings at once.
 *  @return : 0; -ETIMEDOUT; -ECHILD if stdout ended or the child exited
 *            first (msg then carries the exit status when known); -EPROTO.
 *            Every failure message ends with the tail of the child's stderr.
 *  Owner thread only. */
int kh_proc_wait_ready(kh_proc *p, int timeout_ms, const char **name,
                       const char **address, kh_msg *msg);

/*! kh_proc_read_line() : waits up to `timeout_ms` for the next stdout line
 *  after those already consumed (by this function or kh_proc_wait_ready).
 *  A last line without '\n' is returned once stdout has ended.
 *  @line : receives the line without its '\n', borrowed from `p` and valid
 *          until the next kh_proc_read_line/kh_proc_wait_ready call or
 *          kh_proc_destroy().
 *  @return : 0, -ETIMEDOUT, -ECHILD (stdout ended, nothing left), -ENOMEM.
 *  Lines that fell out of the capture bound are skipped. Owner thread only. */
int kh_proc_read_line(kh_proc *p, int timeout_ms, const char **line,
                      kh_msg *msg);

/*! kh_proc_wait_stderr() : waits up to `timeout_ms` until the captured
 *  stderr (what is still inside the capture bound) contains `needle`.
 *  @return : 0, -ETIMEDOUT, -ECHILD (stderr ended without it), -EINVAL.
 *  Owner thread only. */
int kh_proc_wait_stderr(kh_proc *p, const char *needle, int timeout_ms,
                        kh_msg *msg);

/*! kh_proc_signal() : sends `signo` (SIGTERM, SIGKILL, SIGHUP, ...) to the
 *  child's pid (not its group).
 *  @return : 0; -ESRCH when the child has already been reaped; -errno of
 *            kill(). Owner thread only. */
int kh_proc_signal(kh_proc *p, int signo, kh_msg *msg);

/*! kh_proc_wait_exit() : waits up to `timeout_ms` for the child to end and
 *  reaps it. Once it is reaped, waits a further moment (at most 500 ms) for
 *  both pipes to reach end-of-file, so the captured output is complete when
 *  this returns.
 *  @kill_on_timeout : when the deadline passes, send SIGKILL and reap the
 *         child anyway (bounded at 5 s); the call still returns -ETIMEDOUT
 *         but `out` then describes the kill.
 *  @out : (may be NULL) receives how the child ended; left untouched when
 *         it has not ended.
 *  @return : 0 if the child ended within the deadline, -ETIMEDOUT, or
 *            -errno of waitpid. Calling again after the child was reaped
 *            returns 0 and the same status. Owner thread only. */
int kh_proc_wait_exit(kh_proc *p, int timeout_ms, bool kill_on_timeout,
                      kh_exit *out, kh_msg *msg);

/*! kh_proc_stop() : the polite shutdown. Sends SIGTERM, then
 *  kh_proc_wait_exit(p, timeout_ms, true, out, msg): a child that does not
 *  exit in time is killed with SIGKILL and the result is -ETIMEDOUT.
 *  Owner thread only. */
int kh_proc_stop(kh_proc *p, int timeout_ms, kh_exit *out, kh_msg *msg);

/*! kh_proc_running() : reaps the child if it has exited (non-blocking).
 *  @return : true while it is still running. Owner thread only. */
bool kh_proc_running(kh_proc *p);

/*! kh_proc_pid() : the child's pid (stays valid as a number after it is
 *  reaped; do not signal it yourself then). */
pid_t kh_proc_pid(const kh_proc *p);

/*! kh_pid_cpu_s() : CPU seconds (user + system) a process has used so far,
 *  from /proc/PID/stat (benchmarks). 0 when it cannot be read. */
double kh_pid_cpu_s(pid_t pid);

/*! kh_pid_hwm_kib() : a process's peak resident set (VmHWM, KiB) from
 *  /proc/PID/status. 0 when it cannot be read. */
long kh_pid_hwm_kib(pid_t pid);

/*! kh_proc_name() : the label given at spawn. Borrowed; lives as long as
 *  `p`. */
const char *kh_proc_name(const kh_proc *p);

/*! kh_proc_stdout_dup(), kh_proc_stderr_dup() : a copy of what was captured
 *  so far from that stream (at most the capture bound: the newest bytes).
 *  @len : (may be NULL) receives the byte count, without the added NUL.
 *  @return : a NUL-terminated malloc'd copy that the caller frees with
 *            free(); NULL when out of memory. Owner thread only. */
char *kh_proc_stdout_dup(kh_proc *p, size_t *len);
char *kh_proc_stderr_dup(kh_proc *p, size_t *len);

/*! kh_proc_stderr_total() : bytes received on stderr since spawn, including
 *  those dropped from the front of the capture. Owner thread only. */
uint64_t kh_proc_stderr_total(kh_proc *p);

/*! kh_proc_destroy() : if the child still runs, SIGKILLs its process group
 *  and reaps it (bounded at 5 s; past that a warning goes to stderr and the
 *  zombie is left rather than hanging the test), stops the reader thread,
 *  closes every descriptor and frees `p`. Borrowed strings from `p` become
 *  invalid. NULL is a no-op. Owner thread only. */
void kh_proc_destroy(kh_proc *p);

#endif /* KH_HARNESS_H */
