/* HTTP dates (RFC 9110 §5.6.7): formatting, the three accepted formats,
 * strict field checks, the RFC 850 two-digit year rule, the Date cache. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "httpdate.h"

#define RFC_EXAMPLE 784111777 /* Sun, 06 Nov 1994 08:49:37 GMT */

static int parse(const char *s, time_t *t) { return httpdate_parse(s, strlen(s), t); }

static void assert_parses(const char *s, time_t want)
{
    time_t t = 0;
    if (parse(s, &t) != 0)
        fail_msg("should parse: \"%s\"", s);
    if (t != want)
        fail_msg("\"%s\" gave %lld, want %lld", s, (long long)t, (long long)want);
}

static void assert_rejects(const char *s)
{
    time_t t = 12345;
    if (parse(s, &t) != -1)
        fail_msg("should be rejected: \"%s\"", s);
    assert_int_equal(t, 12345); /* *out untouched on failure */
}

static void assert_formats(time_t t, const char *want)
{
    char out[HTTPDATE_LEN + 1];
    httpdate_format(t, out);
    assert_string_equal(out, want);
}

static void test_format_known_dates(void **state)
{
    (void)state;
    assert_formats(0, "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_formats(RFC_EXAMPLE, "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_formats(951782400, "Tue, 29 Feb 2000 00:00:00 GMT");
    assert_formats(1709208000, "Thu, 29 Feb 2024 12:00:00 GMT");
    assert_formats(1795997316, "Mon, 30 Nov 2026 00:08:36 GMT");
    assert_formats(2147483647, "Tue, 19 Jan 2038 03:14:07 GMT");
    assert_formats(4102444799, "Thu, 31 Dec 2099 23:59:59 GMT");
    assert_formats(-1, "Wed, 31 Dec 1969 23:59:59 GMT");
}

static void test_format_length_and_terminator(void **state)
{
    (void)state;
    char out[HTTPDATE_LEN + 8];
    memset(out, 'X', sizeof out);
    httpdate_format(RFC_EXAMPLE, out);
    assert_int_equal(strlen(out), HTTPDATE_LEN);
    assert_int_equal(out[HTTPDATE_LEN + 1], 'X'); /* nothing past the NUL */
}

static void test_format_out_of_range_is_pinned(void **state)
{
    (void)state;
    if (sizeof(time_t) < 8)
        skip();
    assert_formats((time_t)253402300799LL, "Fri, 31 Dec 9999 23:59:59 GMT");
    /* Five-digit years do not fit IMF-fixdate: never overflow the buffer. */
    assert_formats((time_t)253402300800LL, "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_formats((time_t)INT64_MAX, "Thu, 01 Jan 1970 00:00:00 GMT");
}

static void test_parse_rfc_examples(void **state)
{
    (void)state;
    /* RFC 9110 §5.6.7: the same instant in all three formats. */
    assert_parses("Sun, 06 Nov 1994 08:49:37 GMT", RFC_EXAMPLE);
    assert_parses("Sunday, 06-Nov-94 08:49:37 GMT", RFC_EXAMPLE);
    assert_parses("Sun Nov  6 08:49:37 1994", RFC_EXAMPLE);
}

static void test_parse_every_day_and_month_name(void **state)
{
    (void)state;
    /* Format every month's first day and parse it back, then all the RFC
     * 850 long day names. */
    for (int m = 0; m < 12; m++) {
        struct tm tm = {.tm_year = 2025 - 1900, .tm_mon = m, .tm_mday = 1, .tm_hour = 12};
        time_t t = timegm(&tm);
        char s[HTTPDATE_LEN + 1];
        httpdate_format(t, s);
        assert_parses(s, t);
    }
    assert_parses("Monday, 07-Nov-94 08:49:37 GMT", RFC_EXAMPLE + 86400);
    assert_parses("Tuesday, 08-Nov-94 08:49:37 GMT", RFC_EXAMPLE + 2 * 86400);
    assert_parses("Wednesday, 09-Nov-94 08:49:37 GMT", RFC_EXAMPLE + 3 * 86400);
    assert_parses("Thursday, 10-Nov-94 08:49:37 GMT", RFC_EXAMPLE + 4 * 86400);
    assert_parses("Friday, 11-Nov-94 08:49:37 GMT", RFC_EXAMPLE + 5 * 86400);
    assert_parses("Saturday, 12-Nov-94 08:49:37 GMT", RFC_EXAMPLE + 6 * 86400);
}

static void test_roundtrip(void **state)
{
    (void)state;
    /* A spread of instants, including ones across leap years. */
    for (time_t t = 0; t < (time_t)4102444800LL; t += 9876543) {
        char s[HTTPDATE_LEN + 1];
        httpdate_format(t, s);
        assert_parses(s, t);
    }
}

static void test_parse_asctime_day_forms(void **state)
{
    (void)state;
    /* date3 = month SP ( 2DIGIT / ( SP DIGIT ) ) */
    assert_parses("Sun Nov 06 08:49:37 1994", RFC_EXAMPLE);
    assert_parses("Tue Feb 29 00:00:00 2000", 951782400);
    assert_rejects("Sun Nov 6  08:49:37 1994");
    assert_rejects("Sun Nov  6 08:49:37 94");
    assert_rejects("Sun Nov  6 08:49:37 1994 GMT");
    assert_rejects("Sun Nov   6 08:49:37 1994");
}

static void test_parse_slices_and_ows(void **state)
{
    (void)state;
    time_t t;
    /* Only s[0..n) counts: a longer buffer is fine when n is right. */
    const char *buf = "Sun, 06 Nov 1994 08:49:37 GMTgarbage";
    assert_int_equal(httpdate_parse(buf, HTTPDATE_LEN, &t), 0);
    assert_int_equal(t, RFC_EXAMPLE);
    assert_int_equal(httpdate_parse(buf, strlen(buf), &t), -1);
    assert_int_equal(httpdate_parse(buf, HTTPDATE_LEN - 1, &t), -1);
    assert_int_equal(httpdate_parse(buf, 0, &t), -1);
    assert_int_equal(httpdate_parse(NULL, 0, &t), -1);
    /* Leading and trailing OWS around a field value (§5.5). */
    assert_parses("  Sun, 06 Nov 1994 08:49:37 GMT\t ", RFC_EXAMPLE);
    assert_parses(" Sun Nov  6 08:49:37 1994 ", RFC_EXAMPLE);
    /* An embedded NUL ends nothing: the byte is simply invalid. */
    char nul[] = "Sun, 06 Nov 1994 08:49:37 GMT";
    nul[10] = '\0';
    assert_int_equal(httpdate_parse(nul, HTTPDATE_LEN, &t), -1);
}

static void test_parse_rejects_bad_syntax(void **state)
{
    (void)state;
    assert_rejects("");
    assert_rejects("garbage");
    assert_rejects("Sun, 06 Nov 1994 08:49:37");         /* no GMT */
    assert_rejects("Sun, 06 Nov 1994 08:49:37 UTC");     /* only GMT */
    assert_rejects("Sun, 06 Nov 1994 08:49:37 gmt");     /* case-sensitive */
    assert_rejects("sun, 06 Nov 1994 08:49:37 GMT");     /* case-sensitive */
    assert_rejects("Sun, 06 nov 1994 08:49:37 GMT");     /* case-sensitive */
    assert_rejects("Sun, 6 Nov 1994 08:49:37 GMT");      /* 2DIGIT day */
    assert_rejects("Sun, 06 Nov 94 08:49:37 GMT");       /* 4DIGIT year */
    assert_rejects("Sun,  06 Nov 1994 08:49:37 GMT");
    assert_rejects("Sun 06 Nov 1994 08:49:37 GMT");
    assert_rejects("Sun, 06-Nov-1994 08:49:37 GMT");
    assert_rejects("Sun, 06 Nov 1994 08-49-37 GMT");
    assert_rejects("Sun, 06 Nov 1994 8:49:37 GMT");
    assert_rejects("Sun, 06 Nov 1994 08:49:3 GMT");
    assert_rejects("Sun, 06 Nov 1994 08:49:37 GMT ,");
    assert_rejects("Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT");
    assert_rejects("Xyz, 06 Nov 1994 08:49:37 GMT");     /* not a day name */
    assert_rejects("Sun, 06 Foo 1994 08:49:37 GMT");     /* not a month */
    assert_rejects("Sun, +6 Nov 1994 08:49:37 GMT");
    assert_rejects("Sun, 06 Nov 199x 08:49:37 GMT");
    assert_rejects("Sun, 06 Nov 1994 08:49:37 GMT; length=12"); /* old Netscape suffix */
    assert_rejects("Sun, 06-Nov-94 08:49:37 GMT");       /* RFC 850 needs the long name */
    assert_rejects("Sunday, 06 Nov 1994 08:49:37 GMT");
    assert_rejects("Sunday, 06-Nov-94 08:49:37 UTC");
    assert_rejects("Sunday, 6-Nov-94 08:49:37 GMT");
    assert_rejects("Sunday, 06-Nov-1994 08:49:37 GMT");
    assert_rejects("Sundae, 06-Nov-94 08:49:37 GMT");
    assert_rejects("sunday, 06-Nov-94 08:49:37 GMT");
    assert_rejects(",");
    assert_rejects("Sunday,");
    assert_rejects("1994-11-06T08:49:37Z");
    assert_rejects("784111777");
}

static void test_parse_rejects_out_of_range_fields(void **state)
{
    (void)state;
    /* Strict: timegm would happily normalise all of these. */
    assert_rejects("Sun, 00 Nov 1994 08:49:37 GMT");
    assert_rejects("Sun, 31 Nov 1994 08:49:37 GMT");
    assert_rejects("Sun, 32 Jan 1994 08:49:37 GMT");
    assert_rejects("Sun, 30 Feb 2000 08:49:37 GMT");
    assert_rejects("Sun, 29 Feb 1900 08:49:37 GMT"); /* 1900 is not a leap year */
    assert_rejects("Sun, 29 Feb 2023 08:49:37 GMT");
    assert_rejects("Sun, 06 Nov 1994 24:00:00 GMT");
    assert_rejects("Sun, 06 Nov 1994 08:60:37 GMT");
    assert_rejects("Sun, 06 Nov 1994 08:49:61 GMT");
    assert_rejects("Sun, 06 Nov 1994 99:99:99 GMT");
    assert_rejects("Sunday, 31-Apr-94 08:49:37 GMT");
    assert_rejects("Sun Apr 31 08:49:37 1994");
    assert_rejects("Sun Nov  0 08:49:37 1994");
    /* Leap year boundaries that are valid. */
    assert_parses("Tue, 29 Feb 2000 00:00:00 GMT", 951782400);
    assert_parses("Thu, 29 Feb 2024 12:00:00 GMT", 1709208000);
    assert_parses("Sun, 06 Nov 1994 23:59:59 GMT", 784166399);
    /* A leap second (RFC 5322 §3.3 allows 60) is the next second. */
    assert_parses("Sun, 06 Nov 1994 08:49:60 GMT", RFC_EXAMPLE + 23);
}

static void test_parse_weekday_not_cross_checked(void **state)
{
    (void)state;
    /* The day name is redundant: a wrong but real name is accepted. */
    assert_parses("Mon, 06 Nov 1994 08:49:37 GMT", RFC_EXAMPLE);
}

static int this_year(void)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    return tm.tm_year + 1900;
}

static time_t rfc850_jan1(int yy)
{
    char s[64];
    snprintf(s, sizeof s, "Monday, 01-Jan-%02d 00:00:00 GMT", yy);
    time_t t;
    assert_int_equal(parse(s, &t), 0);
    return t;
}

static int year_of(time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    return tm.tm_year + 1900;
}

static void test_rfc850_two_digit_years(void **state)
{
    (void)state;
    /* §5.6.7: a year that appears more than 50 years in the future is the
     * most recent past year with the same two digits. */
    int y = this_year();
    assert_int_equal(year_of(rfc850_jan1(y % 100)), y);
    assert_int_equal(year_of(rfc850_jan1((y + 1) % 100)), y + 1);
    assert_int_equal(year_of(rfc850_jan1((y + 50) % 100)), y + 50);
    assert_int_equal(year_of(rfc850_jan1((y + 51) % 100)), y + 51 - 100);
    assert_int_equal(year_of(rfc850_jan1((y + 99) % 100)), y - 1);
    assert_int_equal(year_of(rfc850_jan1((y - 49 + 100) % 100)), y - 49);
}

static void test_now_is_cached_per_second(void **state)
{
    (void)state;
    const char *a = httpdate_now(RFC_EXAMPLE);
    assert_string_equal(a, "Sun, 06 Nov 1994 08:49:37 GMT");
    const char *b = httpdate_now(RFC_EXAMPLE);
    assert_ptr_equal(a, b);
    assert_string_equal(b, "Sun, 06 Nov 1994 08:49:37 GMT");
    const char *c = httpdate_now(RFC_EXAMPLE + 1);
    assert_string_equal(c, "Sun, 06 Nov 1994 08:49:38 GMT");
    /* Going back in time (clock step) reformats too. */
    assert_string_equal(httpdate_now(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_string_equal(httpdate_now(RFC_EXAMPLE), "Sun, 06 Nov 1994 08:49:37 GMT");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_known_dates),
        cmocka_unit_test(test_format_length_and_terminator),
        cmocka_unit_test(test_format_out_of_range_is_pinned),
        cmocka_unit_test(test_parse_rfc_examples),
        cmocka_unit_test(test_parse_every_day_and_month_name),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_parse_asctime_day_forms),
        cmocka_unit_test(test_parse_slices_and_ows),
        cmocka_unit_test(test_parse_rejects_bad_syntax),
        cmocka_unit_test(test_parse_rejects_out_of_range_fields),
        cmocka_unit_test(test_parse_weekday_not_cross_checked),
        cmocka_unit_test(test_rfc850_two_digit_years),
        cmocka_unit_test(test_now_is_cached_per_second),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
