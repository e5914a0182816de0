/*
 * test_http.c : the agent's HTTP receiver server: chunked bodies (as the
 * OTel JS exporters send), Content-Length bodies, gzip, size caps, gzip
 * bombs, wrong methods and paths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "agt_http.h"

typedef struct seen {
	pthread_mutex_t mu;
	char path[64];
	char ctype[64];
	size_t len;
	char body[256];
	int calls;
} seen;

static void handler(void *ctx, const agt_http_req *req, agt_http_resp *resp)
{
	seen *s = ctx;
	pthread_mutex_lock(&s->mu);
	snprintf(s->path, sizeof(s->path), "%s", req->path);
	snprintf(s->ctype, sizeof(s->ctype), "%s", req->content_type);
	s->len = req->len;
	size_t n = req->len < sizeof(s->body) - 1 ? req->len : sizeof(s->body) - 1;
	memcpy(s->body, req->body, n);
	s->body[n] = '\0';
	s->calls++;
	pthread_mutex_unlock(&s->mu);
	resp->status = 202;
	ksk_buf_append(resp->body, "{}", 2);
}

/* sends raw bytes, returns the response (malloc'd) */
static char *raw(uint16_t port, const void *req, size_t len)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	const char *p = req;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w <= 0)
			break;
		p += w;
		len -= (size_t)w;
	}
	shutdown(fd, SHUT_WR);
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	ssize_t r;
	while ((r = read(fd, buf + n, cap - n - 1)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	close(fd);
	return buf;
}

static uint8_t *gz(const void *in, size_t len, size_t *out_len)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY);
	size_t cap = deflateBound(&z, len) + 64;
	uint8_t *out = malloc(cap);
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	*out_len = cap - z.avail_out;
	deflateEnd(&z);
	return out;
}

static void test_bodies_and_errors(void **state)
{
	(void)state;
	seen s;
	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.mu, NULL);
	const char *paths[] = {"/v1/traces", "/v1/logs", NULL};
	agt_http_opts o;
	memset(&o, 0, sizeof(o));
	o.hostport = "127.0.0.1:0";
	o.paths = paths;
	o.max_body = 4096;
	o.max_inflated = 8192;
	o.handle = handler;
	o.ctx = &s;
	agt_http *h;
	ksk_errinfo ei;
	assert_int_equal(agt_http_start(&o, &h, &ei), KSK_OK);
	uint16_t port = agt_http_port(h);
	assert_true(port > 0);

	/* chunked, as OTel JS sends */
	const char chunked[] = "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
	                       "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
	                       "7\r\n{\"resou\r\n9\r\nrceSpans\"\r\n4\r\n:[]}\r\n0\r\n\r\n";
	char *r = raw(port, chunked, strlen(chunked));
	assert_non_null(strstr(r, "HTTP/1.1 202"));
	free(r);
	assert_string_equal(s.body, "{\"resourceSpans\":[]}");
	assert_string_equal(s.path, "/v1/traces");
	assert_string_equal(s.ctype, "application/json");

	/* Content-Length and gzip */
	const char *json = "{\"resourceLogs\":[]}";
	size_t glen;
	uint8_t *g = gz(json, strlen(json), &glen);
	char hdr[256];
	int hn = snprintf(hdr, sizeof(hdr),
	                  "POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
	                  "Content-Encoding: gzip\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
	                  glen);
	char *req = malloc((size_t)hn + glen);
	memcpy(req, hdr, (size_t)hn);
	memcpy(req + hn, g, glen);
	r = raw(port, req, (size_t)hn + glen);
	assert_non_null(strstr(r, "HTTP/1.1 202"));
	free(r);
	free(req);
	free(g);
	assert_string_equal(s.body, json);

	/* a gzip bomb: 1 MiB of zeros inflates past the 8 KiB cap */
	uint8_t *zeros = calloc(1, 1 << 20);
	g = gz(zeros, 1 << 20, &glen);
	free(zeros);
	assert_true(glen < 4096);
	hn = snprintf(hdr, sizeof(hdr),
	              "POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n"
	              "Content-Length: %zu\r\nConnection: close\r\n\r\n",
	              glen);
	req = malloc((size_t)hn + glen);
	memcpy(req, hdr, (size_t)hn);
	memcpy(req + hn, g, glen);
	int calls = s.calls;
	r = raw(port, req, (size_t)hn + glen);
	assert_non_null(strstr(r, "HTTP/1.1 413"));
	free(r);
	free(req);
	free(g);
	/* corrupt gzip */
	const char bad_gz[] = "POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n"
	                      "Content-Length: 5\r\nConnection: close\r\n\r\nhello";
	r = raw(port, bad_gz, strlen(bad_gz));
	assert_non_null(strstr(r, "HTTP/1.1 400"));
	free(r);
	/* over the body cap */
	char *big = malloc(8000);
	hn = snprintf(big, 8000, "POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n"
	                         "Connection: close\r\n\r\n");
	memset(big + hn, 'a', 5000);
	r = raw(port, big, (size_t)hn + 5000);
	assert_non_null(strstr(r, "HTTP/1.1 413"));
	free(r);
	free(big);
	/* wrong method, unknown path, unknown encoding */
	const char get[] = "GET /v1/traces HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	r = raw(port, get, strlen(get));
	assert_non_null(strstr(r, "HTTP/1.1 405"));
	assert_non_null(strstr(r, "Allow: POST"));
	free(r);
	const char nf[] = "POST /v2/nothing HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	r = raw(port, nf, strlen(nf));
	assert_non_null(strstr(r, "HTTP/1.1 404"));
	free(r);
	const char br[] = "POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Encoding: br\r\n"
	                  "Content-Length: 2\r\nConnection: close\r\n\r\n{}";
	r = raw(port, br, strlen(br));
	assert_non_null(strstr(r, "HTTP/1.1 415"));
	free(r);
	assert_int_equal(s.calls, calls); /* none of the bad ones reached the handler */
	agt_http_stop(h);
	agt_http_stop(NULL);
	pthread_mutex_destroy(&s.mu);
	/* bad address */
	o.hostport = "nowhere";
	assert_int_equal(agt_http_start(&o, &h, &ei), KSK_EINVAL);
}

static void test_gunzip_direct(void **state)
{
	(void)state;
	ksk_buf out;
	ksk_buf_init(&out, NULL, 0);
	const char *text = "abcabcabc hello gzip";
	size_t glen;
	uint8_t *g = gz(text, strlen(text), &glen);
	assert_int_equal(agt_gunzip(g, glen, 1000, &out), KSK_OK);
	assert_int_equal(out.len, strlen(text));
	assert_memory_equal(out.data, text, out.len);
	assert_int_equal(agt_gunzip(g, glen, 5, &out), KSK_ETOOBIG);
	assert_int_equal(agt_gunzip(g, glen - 3, 1000, &out), KSK_EPARSE); /* truncated */
	free(g);
	ksk_buf_fini(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bodies_and_errors),
		cmocka_unit_test(test_gunzip_direct),
	};
	return cmocka_run_group_tests_name("agt_http", tests, NULL, NULL);
}
