/*
 * HTTP dates (RFC 9110 §5.6.7).
 *
 * We always send IMF-fixdate and accept the two obsolete forms (RFC 850 and
 * asctime) because §5.6.7 says recipients MUST accept all three. Formatting
 * and parsing are done by hand: strftime and strptime depend on the locale,
 * and a header value must never change with LC_TIME.
 */
#include "httpdate.h"

#include <stdio.h>
#include <string.h>

static const char day_names[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const long_day_names[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                              "Thursday", "Friday", "Saturday"};
static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* ---- formatting ---- */

static void put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

void httpdate_format(time_t t, char *out)
{
    struct tm tm;
    /* IMF-fixdate has a four-digit year; anything gmtime_r cannot represent
     * or that does not fit is pinned to the epoch rather than overflowing out. */
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
        t = 0;
        gmtime_r(&t, &tm);
    }
    int year = tm.tm_year + 1900;
    memcpy(out, day_names[tm.tm_wday], 3);
    memcpy(out + 3, ", ", 2);
    put2(out + 5, tm.tm_mday);
    out[7] = ' ';
    memcpy(out + 8, month_names[tm.tm_mon], 3);
    out[11] = ' ';
    put2(out + 12, year / 100);
    put2(out + 14, year % 100);
    out[16] = ' ';
    put2(out + 17, tm.tm_hour);
    out[19] = ':';
    put2(out + 20, tm.tm_min);
    out[22] = ':';
    put2(out + 23, tm.tm_sec);
    memcpy(out + 25, " GMT", 4);
    out[HTTPDATE_LEN] = '\0';
}

const char *httpdate_now(time_t now)
{
    /* The Date header is built for every response; formatting once a second
     * is enough since its resolution is one second (§6.6.1). */
    static char cached[HTTPDATE_LEN + 1];
    static time_t cached_at;
    static int valid;
    if (!valid || now != cached_at) {
        httpdate_format(now, cached);
        cached_at = now;
        valid = 1;
    }
    return cached;
}

/* ---- parsing ---- */

/* Fields of a date being parsed, before range checks. */
typedef struct date_fields {
    int year, mon, mday, hour, min, sec;
} date_fields;

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* n decimal digits at p, exactly. */
static int digits(const char *p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit(p[i]))
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 0;
}

/* Day and month names are case-sensitive (§5.6.7: "day-name = %s..."). */
static int match_name(const char *p, const char *const *names, size_t count, size_t len)
{
    for (size_t i = 0; i < count; i++)
        if (strlen(names[i]) == len && memcmp(p, names[i], len) == 0)
            return (int)i;
    return -1;
}

static int short_day(const char *p)
{
    for (int i = 0; i < 7; i++)
        if (memcmp(p, day_names[i], 3) == 0)
            return i;
    return -1;
}

static int month(const char *p)
{
    for (int i = 0; i < 12; i++)
        if (memcmp(p, month_names[i], 3) == 0)
            return i;
    return -1;
}

/* "hh:mm:ss" */
static int parse_time_of_day(const char *p, date_fields *f)
{
    if (p[2] != ':' || p[5] != ':')
        return -1;
    return digits(p, 2, &f->hour) || digits(p + 3, 2, &f->min) || digits(p + 6, 2, &f->sec) ? -1 : 0;
}

static int is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int year, int mon)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return mon == 1 && is_leap(year) ? 29 : days[mon];
}

/* Strict ranges, so "Feb 30" or "25:00:00" are not silently normalised by
 * timegm into another date. Second 60 is a leap second (RFC 5322 §3.3). */
static int fields_to_time(const date_fields *f, time_t *out)
{
    if (f->mon < 0 || f->mon > 11 || f->mday < 1 || f->mday > days_in_month(f->year, f->mon) ||
        f->hour > 23 || f->min > 59 || f->sec > 60)
        return -1;
    struct tm tm = {0};
    tm.tm_year = f->year - 1900;
    tm.tm_mon = f->mon;
    tm.tm_mday = f->mday;
    tm.tm_hour = f->hour;
    tm.tm_min = f->min;
    tm.tm_sec = f->sec;
    *out = timegm(&tm);
    return 0;
}

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (exactly 29 octets). */
static int parse_imf(const char *s, size_t n, time_t *out)
{
    date_fields f;
    if (n != HTTPDATE_LEN || short_day(s) < 0 || memcmp(s + 3, ", ", 2) != 0 || s[7] != ' ' ||
        s[11] != ' ' || s[16] != ' ' || memcmp(s + 25, " GMT", 4) != 0)
        return -1;
    if (digits(s + 5, 2, &f.mday) || digits(s + 12, 4, &f.year) || parse_time_of_day(s + 17, &f))
        return -1;
    f.mon = month(s + 8);
    return fields_to_time(&f, out);
}

/* §5.6.7: a two-digit year more than 50 years in the future is the most
 * recent past year with the same last two digits. */
static int rfc850_year(int yy)
{
    time_t now = time(NULL);
    struct tm tm;
    int this_year = gmtime_r(&now, &tm) ? tm.tm_year + 1900 : 1970;
    int year = this_year - this_year % 100 + yy;
    if (year > this_year + 50)
        year -= 100;
    else if (year <= this_year - 50)
        year += 100;
    return year;
}

/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" (day name of 6 to 9 letters). */
static int parse_rfc850(const char *s, size_t n, time_t *out)
{
    const char *comma = memchr(s, ',', n);
    if (!comma)
        return -1;
    size_t name_len = (size_t)(comma - s);
    if (match_name(s, long_day_names, 7, name_len) < 0 || n != name_len + 24)
        return -1;
    const char *p = comma + 1; /* " 06-Nov-94 08:49:37 GMT" */
    date_fields f;
    int yy;
    if (p[0] != ' ' || p[3] != '-' || p[7] != '-' || p[10] != ' ' || memcmp(p + 19, " GMT", 4) != 0)
        return -1;
    if (digits(p + 1, 2, &f.mday) || digits(p + 8, 2, &yy) || parse_time_of_day(p + 11, &f))
        return -1;
    f.mon = month(p + 4);
    f.year = rfc850_year(yy);
    return fields_to_time(&f, out);
}

/* asctime: "Sun Nov  6 08:49:37 1994" (day of month is SP DIGIT or 2DIGIT). */
static int parse_asctime(const char *s, size_t n, time_t *out)
{
    date_fields f;
    if (n != 24 || short_day(s) < 0 || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' || s[19] != ' ')
        return -1;
    if (s[8] == ' ') {
        if (digits(s + 9, 1, &f.mday))
            return -1;
    } else if (digits(s + 8, 2, &f.mday)) {
        return -1;
    }
    if (parse_time_of_day(s + 11, &f) || digits(s + 20, 4, &f.year))
        return -1;
    f.mon = month(s + 4);
    return fields_to_time(&f, out);
}

static int is_ows(char c) { return c == ' ' || c == '\t'; }

int httpdate_parse(const char *s, size_t n, time_t *out)
{
    if (!s || !out)
        return -1;
    /* Field values normally arrive trimmed; trimming OWS again costs nothing
     * and keeps callers that pass raw slices correct (RFC 9110 §5.5). */
    while (n > 0 && is_ows(s[0])) {
        s++;
        n--;
    }
    while (n > 0 && is_ows(s[n - 1]))
        n--;
    if (n < 24)
        return -1;
    /* The day name must be a real one but is not checked against the date:
     * it is redundant, and §5.6.7 asks recipients to be robust. */
    if (s[3] == ',')
        return parse_imf(s, n, out);
    if (s[3] == ' ')
        return parse_asctime(s, n, out);
    return parse_rfc850(s, n, out);
}
