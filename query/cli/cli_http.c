/*
 * cli_http.c : GET requests to kiseki-query with libcurl (cli_http.h).
 *
 * Data in: a path and parameters. Data out: status + body bytes.
 * One easy handle is reused across requests (keep-alive for `logs -f`).
 * Invariants: every parameter value is percent-encoded; the body never
 * grows past CLI_HTTP_MAX_BODY (the write callback refuses, which aborts
 * the transfer); redirects are not followed (the API never redirects).
 */
#include "cli_http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cli_http {
	CURL *c;
	char *base;                 /* no trailing '/' */
	struct curl_slist *headers; /* Authorization, Accept */
	long timeout_ms;
	char errbuf[CURL_ERROR_SIZE];
};

typedef struct cli_sink {
	ksk_buf *b;
	bool over;
} cli_sink;

static size_t cli_http_write(char *p, size_t size, size_t nmemb, void *ctx)
{
	cli_sink *s = ctx;
	size_t n = size * nmemb;
	if (s->b->len + n > CLI_HTTP_MAX_BODY) {
		s->over = true;
		return 0;
	}
	if (ksk_buf_append(s->b, p, n) != KSK_OK)
		return 0;
	return n;
}

ksk_err cli_http_create(const char *base_url, const char *token, long timeout_ms,
                        cli_http **out, ksk_errinfo *ei)
{
	if (!base_url || !*base_url)
		return ksk_errinfo_set(ei, KSK_EINVAL, "no server URL");
	cli_http *h = calloc(1, sizeof(*h));
	if (!h)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
	bool scheme = strstr(base_url, "://") != NULL;
	size_t n = strlen(base_url) + (scheme ? 0 : 7) + 1;
	h->base = malloc(n);
	if (!h->base) {
		free(h);
		return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
	}
	snprintf(h->base, n, "%s%s", scheme ? "" : "http://", base_url);
	size_t bl = strlen(h->base);
	while (bl > 0 && h->base[bl - 1] == '/')
		h->base[--bl] = '\0';
	h->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
	h->c = curl_easy_init();
	if (!h->c) {
		cli_http_destroy(h);
		return ksk_errinfo_set(ei, KSK_ENOMEM, "libcurl: cannot create a handle");
	}
	struct curl_slist *l = curl_slist_append(NULL, "Accept: application/json");
	if (l && token) {
		size_t tl = strlen(token) + 32;
		char *hdr = malloc(tl);
		if (!hdr) {
			curl_slist_free_all(l);
			cli_http_destroy(h);
			return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
		}
		snprintf(hdr, tl, "Authorization: Bearer %s", token);
		struct curl_slist *l2 = curl_slist_append(l, hdr);
		free(hdr);
		if (!l2) {
			curl_slist_free_all(l);
			l = NULL;
		} else {
			l = l2;
		}
	}
	if (!l) {
		cli_http_destroy(h);
		return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
	}
	h->headers = l;
	*out = h;
	return KSK_OK;
}

void cli_http_destroy(cli_http *h)
{
	if (!h)
		return;
	if (h->c)
		curl_easy_cleanup(h->c);
	curl_slist_free_all(h->headers);
	free(h->base);
	free(h);
}

const char *cli_http_url(const cli_http *h)
{
	return h->base;
}

/* appends `s` percent-encoded */
static ksk_err cli_http_enc(CURL *c, ksk_buf *u, const char *s)
{
	char *e = curl_easy_escape(c, s, (int)strlen(s));
	if (!e)
		return KSK_ENOMEM;
	ksk_err rc = ksk_buf_append(u, e, strlen(e));
	curl_free(e);
	return rc;
}

ksk_err cli_http_get(cli_http *h, const char *path, const cli_param *params, size_t n,
                     long *status, ksk_buf *body, ksk_errinfo *ei)
{
	ksk_buf url;
	ksk_buf_init(&url, NULL, 1u << 20);
	ksk_buf_append(&url, h->base, strlen(h->base));
	ksk_buf_append(&url, path, strlen(path));
	char sep = '?';
	for (size_t i = 0; i < n; i++) {
		if (!params[i].value)
			continue;
		ksk_buf_append(&url, &sep, 1);
		ksk_buf_append(&url, params[i].key, strlen(params[i].key));
		ksk_buf_append(&url, "=", 1);
		if (cli_http_enc(h->c, &url, params[i].value) != KSK_OK)
			url.err = url.err ? url.err : KSK_ENOMEM;
		sep = '&';
	}
	ksk_buf_append(&url, "", 1);
	if (url.err != KSK_OK) {
		ksk_err e = url.err;
		ksk_buf_fini(&url);
		return ksk_errinfo_set(ei, e, "request URL too long or out of memory");
	}
	ksk_buf_clear(body);
	cli_sink sink = {body, false};
	CURL *c = h->c;
	curl_easy_reset(c);
	h->errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, (const char *)url.data);
	curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cli_http_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->timeout_ms < 10000 ? h->timeout_ms : 10000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "kiseki-cli/0.1");
	CURLcode cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		ksk_err rc;
		if (sink.over)
			rc = ksk_errinfo_set(ei, KSK_ELIMIT, "%s: answer over %zu MiB",
			                     (const char *)url.data, CLI_HTTP_MAX_BODY >> 20);
		else
			rc = ksk_errinfo_set(ei, body->err == KSK_ENOMEM ? KSK_ENOMEM : KSK_ENET,
			                     "cannot reach %s: %s", h->base,
			                     h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc));
		ksk_buf_fini(&url);
		return rc;
	}
	ksk_buf_fini(&url);
	long st = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
	*status = st;
	if (ksk_buf_append(body, "", 1) != KSK_OK)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
	body->len--;
	return KSK_OK;
}
