/*
 * "expires": {".css": 86400, "image/any": …, "text/html": 0}, where a key is
 * an extension (".css"), a media type ("text/html"), or a whole top-level
 * type written "image/" followed by a star. The first match wins in this
 * order: the path's extension, the exact media type, the whole type. The
 * response then gets Cache-Control: max-age=N and an Expires date N seconds
 * ahead (RFC 9111 §5.2.2.1, §5.3; Expires for HTTP/1.0 caches).
 */
#include <string.h>
#include <strings.h>
#include <time.h>

#include "headers.h"

static const hd_expiry *find(const hd_conf *c, const char *key, size_t n)
{
    for (size_t i = 0; i < c->n_expires; i++)
        if (strlen(c->expires[i].key) == n && strncasecmp(c->expires[i].key, key, n) == 0)
            return &c->expires[i];
    return NULL;
}

const hd_expiry *hd_expiry_for(const hd_conf *c, const char *path, const char *content_type)
{
    if (!c->n_expires)
        return NULL;
    const char *slash = path ? strrchr(path, '/') : NULL;
    const char *dot = slash ? strrchr(slash, '.') : NULL;
    const hd_expiry *e = dot && dot[1] ? find(c, dot, strlen(dot)) : NULL;
    if (e || !content_type)
        return e;
    size_t n = strcspn(content_type, "; \t");
    if ((e = find(c, content_type, n)) != NULL)
        return e;
    const char *sl = memchr(content_type, '/', n);
    if (!sl)
        return NULL;
    char wild[128];
    size_t t = (size_t)(sl - content_type);
    if (t + 3 > sizeof wild)
        return NULL;
    memcpy(wild, content_type, t);
    memcpy(wild + t, "/*", 3);
    return find(c, wild, t + 2);
}

void hd_http_date(long long t, char out[32])
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    /* Built by hand: strftime's names follow the locale, HTTP's do not (RFC 9110 §5.6.7). */
    char *o = out;
    memcpy(o, days[tm.tm_wday], 3);
    o += 3;
    *o++ = ',';
    *o++ = ' ';
    *o++ = (char)('0' + tm.tm_mday / 10);
    *o++ = (char)('0' + tm.tm_mday % 10);
    *o++ = ' ';
    memcpy(o, months[tm.tm_mon], 3);
    o += 3;
    *o++ = ' ';
    int y = tm.tm_year + 1900;
    *o++ = (char)('0' + y / 1000 % 10);
    *o++ = (char)('0' + y / 100 % 10);
    *o++ = (char)('0' + y / 10 % 10);
    *o++ = (char)('0' + y % 10);
    *o++ = ' ';
    int hms[3] = {tm.tm_hour, tm.tm_min, tm.tm_sec};
    for (int i = 0; i < 3; i++) {
        *o++ = (char)('0' + hms[i] / 10);
        *o++ = (char)('0' + hms[i] % 10);
        *o++ = i < 2 ? ':' : ' ';
    }
    memcpy(o, "GMT", 4);
}
