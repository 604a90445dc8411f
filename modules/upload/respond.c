/* The 201 list of stored files, as HTML or JSON; see respond.h. */
#include "respond.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "upload.h"

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 512;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_fmt(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(sbuf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        sb_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static int url_keeps(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return strchr("/-._~!$&'()*+,;=:@", c) != NULL && c != 0;
}

char *up_url_encode(ws_request *r, const char *path)
{
    size_t n = 0;
    for (const char *s = path; *s; s++)
        n += url_keeps((unsigned char)*s) ? 1 : 3;
    char *out = up_host->alloc(r, n + 1), *o = out;
    if (!out)
        return NULL;
    for (const unsigned char *s = (const unsigned char *)path; *s; s++) {
        if (url_keeps(*s)) {
            *o++ = (char)*s;
        } else {
            *o++ = '%';
            *o++ = "0123456789ABCDEF"[*s >> 4];
            *o++ = "0123456789ABCDEF"[*s & 15];
        }
    }
    *o = '\0';
    return out;
}

static void html_escaped(sbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': sb_str(b, "&amp;"); break;
        case '<': sb_str(b, "&lt;"); break;
        case '>': sb_str(b, "&gt;"); break;
        case '"': sb_str(b, "&quot;"); break;
        case '\'': sb_str(b, "&#39;"); break;
        default: sb_add(b, s, 1);
        }
    }
}

static void json_string(sbuf *b, const char *s)
{
    sb_str(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            sb_add(b, "\\", 1);
            sb_add(b, s, 1);
        } else if (c < 0x20 || c == 0x7f) {
            sb_fmt(b, "\\u%04x", c);
        } else {
            sb_add(b, s, 1);
        }
    }
    sb_str(b, "\"");
}

static int wants_json(const ws_request *r)
{
    const char *accept = up_host->header(r, "Accept");
    return accept && strcasestr(accept, "application/json") != NULL;
}

static void build_json(sbuf *b, ws_request *r, const char *folder_url, const up_entry *e, size_t n)
{
    sb_str(b, "[");
    for (size_t i = 0; i < n; i++) {
        const char *enc = up_url_encode(r, e[i].name);
        sb_str(b, i ? ",\n {\"name\": " : "{\"name\": ");
        json_string(b, e[i].name);
        sb_fmt(b, ", \"size\": %" PRId64 ", \"url\": ", e[i].size);
        sb_str(b, "\"");
        sb_str(b, folder_url); /* already URL-encoded: only safe characters */
        sb_str(b, enc ? enc : "");
        sb_str(b, "\"}");
    }
    sb_str(b, "]\n");
}

static void build_html(sbuf *b, ws_request *r, const char *folder_url, const up_entry *e, size_t n)
{
    sb_str(b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Uploaded</title></head>\n"
              "<body><h1>Uploaded</h1>\n<ul>\n");
    for (size_t i = 0; i < n; i++) {
        const char *enc = up_url_encode(r, e[i].name);
        sb_str(b, "<li><a href=\"");
        html_escaped(b, folder_url);
        html_escaped(b, enc ? enc : "");
        sb_str(b, "\">");
        html_escaped(b, e[i].name);
        sb_fmt(b, "</a> (%" PRId64 " bytes)</li>\n", e[i].size);
    }
    sb_str(b, "</ul>\n</body></html>\n");
}

int up_respond_created(ws_request *r, const char *location, const char *folder_url, const up_entry *e,
                       size_t n)
{
    sbuf b = {0};
    int json = wants_json(r);
    if (json)
        build_json(&b, r, folder_url, e, n);
    else
        build_html(&b, r, folder_url, e, n);
    if (b.failed) {
        free(b.p);
        return -1;
    }
    up_host->set_status(r, 201);
    up_host->add_header(r, "Location", location);
    up_host->add_header(r, "Content-Type", json ? "application/json" : "text/html; charset=utf-8");
    up_host->set_length(r, (int64_t)b.len);
    int rc = up_host->write(r, b.p, b.len);
    free(b.p);
    if (rc == WS_ERROR)
        return -1;
    up_host->finish(r);
    return 0;
}

int up_respond_unsupported_type(ws_request *r)
{
    static const char body[] = "<!DOCTYPE html>\n<html><head><title>415 Unsupported Media Type</title></head>\n"
                               "<body><h1>415 Unsupported Media Type</h1>\n"
                               "<p>A POST to a folder takes a multipart/form-data body.</p></body></html>\n";
    up_host->set_status(r, 415);
    up_host->add_header(r, "Accept-Post", "multipart/form-data");
    up_host->add_header(r, "Content-Type", "text/html; charset=utf-8");
    up_host->set_length(r, (int64_t)(sizeof body - 1));
    if (up_host->write(r, body, sizeof body - 1) == WS_ERROR)
        return -1;
    up_host->finish(r);
    return 0;
}
