#include "access_log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

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

void access_log_request(const request *r)
{
    if (!log_access_enabled())
        return;
    char line[4096 + 1024], rl[2048], ref[1024], ua[1024], when[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S +0000", &tm);
    escape_field(rl, sizeof rl, r->request_line);
    escape_field(ref, sizeof ref, r->referer);
    escape_field(ua, sizeof ua, r->user_agent);
    char bytes[24] = "-";
    if (r->body_bytes_sent)
        snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)r->body_bytes_sent);
    int n = snprintf(line, sizeof line, "%s - - [%s] \"%s\" %d %s \"%s\" \"%s\"\n",
                     r->pub.remote_addr ? r->pub.remote_addr : "-", when, rl, r->status, bytes, ref, ua);
    if (n > 0)
        log_access_line(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}
