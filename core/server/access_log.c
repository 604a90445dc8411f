/* One access-log line per request: Combined Log Format, or a JSON object per
 * line with "access_log_format": "json". */
#include "access_log.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "server.h"
#include "tls.h"

/* Quote-safe copy: '"', '\\' and bytes outside printable ASCII become \xHH, so a
 * request line cannot forge log fields. */
static size_t escape_field(char *out, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (!s)
        s = "-";
    for (const unsigned char *p = (const unsigned char *)s; *p && o + 5 < cap; p++) {
        if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\') {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        } else {
            out[o++] = (char)*p;
        }
    }
    out[o] = 0;
    return o;
}

static void log_combined(const request *r)
{
    char line[4096 + 1024], rl[2048], ref[1024], ua[1024], when[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S +0000", &tm);
    escape_field(rl, sizeof rl, r->request_line);
    escape_field(ref, sizeof ref, r->referer);
    escape_field(ua, sizeof ua, r->user_agent);
    char user[256];
    escape_field(user, sizeof user, r->pub.remote_user && r->pub.remote_user[0] ? r->pub.remote_user : "-");
    for (char *p = user; *p; p++)
        if (*p == ' ')
            *p = '+'; /* %u is one space-separated field */
    char bytes[24] = "-";
    if (r->body_bytes_sent)
        snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)r->body_bytes_sent);
    int n = snprintf(line, sizeof line, "%s - %s [%s] \"%s\" %d %s \"%s\" \"%s\"\n",
                     r->pub.remote_addr ? r->pub.remote_addr : "-", user, when, rl, r->status, bytes, ref, ua);
    if (n > 0)
        log_access_line(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* ---- JSON lines ---- */

typedef struct jbuf {
    char *p;
    size_t len, cap;
} jbuf;

static void jraw(jbuf *b, const char *s, size_t n)
{
    if (b->len + n >= b->cap)
        n = b->len < b->cap ? b->cap - b->len - 1 : 0;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 (RFC 3629:
 * no overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    unsigned cp = c & (0xff >> (len + 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* A JSON string, or null. At most `limit` output bytes of content; an escape
 * or a character is never cut in half. Valid UTF-8 passes through; control
 * characters and bytes that are not UTF-8 become \u00XX (the byte's value). */
static void jstr(jbuf *b, const char *s, size_t limit)
{
    static const char hex[] = "0123456789abcdef";
    if (!s) {
        jraw(b, "null", 4);
        return;
    }
    jraw(b, "\"", 1);
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), used = 0;
    for (size_t i = 0; i < n;) {
        char esc[8];
        const char *out = esc;
        size_t k, adv = 1;
        unsigned c = p[i];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c, k = 2;
        } else if (c >= 0x20 && c < 0x7f) {
            out = (const char *)p + i, k = 1;
        } else if (c >= 0x80 && (adv = utf8_len(p + i, n - i)) > 0) {
            out = (const char *)p + i, k = adv;
        } else {
            adv = 1;
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4], esc[5] = hex[c & 15], k = 6;
        }
        if (used + k > limit)
            break;
        jraw(b, out, k);
        used += k;
        i += adv;
    }
    jraw(b, "\"", 1);
}

static void jkey(jbuf *b, const char *key)
{
    jraw(b, b->len > 1 ? ",\"" : "\"", b->len > 1 ? 2 : 1);
    jraw(b, key, strlen(key));
    jraw(b, "\":", 2);
}

static void jnum(jbuf *b, unsigned long long v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%llu", v);
    jraw(b, num, (size_t)n);
}

static void log_json(const request *r)
{
    char line[8192];
    jbuf b = {line, 0, sizeof line - 1}; /* room for the newline */
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char when[64];
    size_t w = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + w, sizeof when - w, ".%03dZ", (int)(tv.tv_usec / 1000));
    /* A refused head (400, 414, 431 …) has no method, target or protocol to report. */
    int parsed = r->pub.method && r->pub.target;
    const char *proto = !parsed ? NULL : r->pub.http_minor == WS_HTTP2_MINOR ? "HTTP/2.0" : r->pub.http_minor ? "HTTP/1.1" : "HTTP/1.0";

    jraw(&b, "{", 1);
    jkey(&b, "time");
    jstr(&b, when, 64);
    jkey(&b, "pid");
    jnum(&b, (unsigned long long)getpid());
    jkey(&b, "remote_addr");
    jstr(&b, r->pub.remote_addr, 64);
    jkey(&b, "remote_port");
    jnum(&b, r->pub.remote_port);
    jkey(&b, "remote_user"); /* who an access module (auth_basic) verified, else null */
    jstr(&b, r->pub.remote_user, 256);
    jkey(&b, "host");
    jstr(&b, parsed ? r->pub.host : NULL, 512);
    jkey(&b, "request");
    jstr(&b, r->request_line, 2048);
    jkey(&b, "method");
    jstr(&b, parsed ? r->pub.method : NULL, 64);
    jkey(&b, "target");
    jstr(&b, parsed ? r->pub.target : NULL, 2048);
    jkey(&b, "protocol");
    jstr(&b, proto, 16);
    jkey(&b, "status");
    jnum(&b, (unsigned long long)(r->status > 0 ? r->status : 0));
    jkey(&b, "bytes");
    jnum(&b, (unsigned long long)r->body_bytes_sent);
    jkey(&b, "referer");
    jstr(&b, r->referer, 1024);
    jkey(&b, "user_agent");
    jstr(&b, r->user_agent, 1024);
    tls_facts tf;
    if (r->tr && tls_transport_facts(r->tr, &tf, NULL, 0) == 0) {
        /* Over HTTPS: what the handshake agreed on (issue 15). */
        jkey(&b, "tls_protocol");
        jstr(&b, tf.protocol, 32);
        jkey(&b, "tls_cipher");
        jstr(&b, tf.cipher, 64);
        jkey(&b, "tls_resumed");
        jraw(&b, tf.resumed ? "true" : "false", tf.resumed ? 4 : 5);
    }
    jraw(&b, "}", 1);
    line[b.len++] = '\n';
    log_access_line(line, b.len);
}

void access_log_request(const request *r)
{
    if (!log_access_enabled())
        return;
    if (r->cfg && r->cfg->c->access_log_json)
        log_json(r);
    else
        log_combined(r);
}
