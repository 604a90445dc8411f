/* Conditional requests (RFC 9110 §13) and byte ranges (§14): cond_check,
 * range_check and etag_from_stat, with the RFC's own examples. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "http_cond.h"

#define LM 784111777 /* Sun, 06 Nov 1994 08:49:37 GMT */
#define LM_STR "Sun, 06 Nov 1994 08:49:37 GMT"
#define LM_PLUS1 "Sun, 06 Nov 1994 08:49:38 GMT"
#define LM_MINUS1 "Sun, 06 Nov 1994 08:49:36 GMT"
#define FUTURE "Fri, 31 Dec 9999 23:59:59 GMT"
#define ETAG "\"xyzzy\""

enum { GET = 1, POST = 0 };

/* ---- helpers ---- */

typedef struct hdrs {
    const char *im, *inm, *ims, *ius;
} hdrs;

static int cond(int get, hdrs h, const char *etag, time_t lm)
{
    cond_request rq = {.is_get_or_head = get,
                       .if_match = h.im,
                       .if_none_match = h.inm,
                       .if_modified_since = h.ims,
                       .if_unmodified_since = h.ius};
    cond_validators v = {.etag = etag, .last_modified = lm};
    return cond_check(&rq, &v);
}

#define INM(x) ((hdrs){.inm = (x)})
#define IM(x) ((hdrs){.im = (x)})
#define IMS(x) ((hdrs){.ims = (x)})
#define IUS(x) ((hdrs){.ius = (x)})

static int64_t r_start, r_len;

static int range_full(const char *range, const char *if_range, const char *etag, time_t lm, int64_t length)
{
    cond_request rq = {.is_get_or_head = 1, .range = range, .if_range = if_range};
    cond_validators v = {.etag = etag, .last_modified = lm};
    r_start = r_len = -7;
    int st = range_check(&rq, &v, length, &r_start, &r_len);
    if (st == 206) {
        assert_true(r_len > 0);
        assert_true(r_start >= 0 && r_start <= length - r_len);
    }
    return st;
}

static int range(const char *r, int64_t length) { return range_full(r, NULL, ETAG, LM, length); }

static void assert_206(const char *r, int64_t length, int64_t start, int64_t len)
{
    int st = range(r, length);
    if (st != 206)
        fail_msg("\"%s\" on %lld bytes: %d, want 206", r, (long long)length, st);
    if (r_start != start || r_len != len)
        fail_msg("\"%s\": start %lld len %lld, want %lld %lld", r, (long long)r_start, (long long)r_len,
                 (long long)start, (long long)len);
}

static void assert_range_status(const char *r, int64_t length, int want)
{
    int st = range(r, length);
    if (st != want)
        fail_msg("\"%s\" on %lld bytes: %d, want %d", r ? r : "(none)", (long long)length, st, want);
}

/* ---- cond_check: no conditions ---- */

static void test_no_conditions(void **state)
{
    (void)state;
    assert_int_equal(cond(GET, (hdrs){0}, ETAG, LM), 0);
    assert_int_equal(cond(POST, (hdrs){0}, NULL, 0), 0);
}

/* ---- If-None-Match (§13.1.2) ---- */

static void test_inm_rfc_examples(void **state)
{
    (void)state;
    /* §13.1.2 examples, each matching the current "xyzzy". */
    assert_int_equal(cond(GET, INM("\"xyzzy\""), ETAG, LM), 304);
    assert_int_equal(cond(GET, INM("W/\"xyzzy\""), ETAG, LM), 304);
    assert_int_equal(cond(GET, INM("\"xyzzy\", \"r2d2xxxx\", \"c3piozzzz\""), ETAG, LM), 304);
    assert_int_equal(cond(GET, INM("W/\"xyzzy\", W/\"r2d2xxxx\", W/\"c3piozzzz\""), ETAG, LM), 304);
    assert_int_equal(cond(GET, INM("*"), ETAG, LM), 304);
    /* The same against another representation. */
    assert_int_equal(cond(GET, INM("\"r2d2xxxx\", \"c3piozzzz\""), ETAG, LM), 0);
    assert_int_equal(cond(GET, INM("W/\"r2d2xxxx\""), ETAG, LM), 0);
}

static void test_inm_non_get_is_412(void **state)
{
    (void)state;
    assert_int_equal(cond(POST, INM("\"xyzzy\""), ETAG, LM), 412);
    assert_int_equal(cond(POST, INM("*"), ETAG, LM), 412);
    assert_int_equal(cond(POST, INM("*"), NULL, 0), 412);
    assert_int_equal(cond(POST, INM("\"other\""), ETAG, LM), 0);
}

static void test_inm_list_syntax(void **state)
{
    (void)state;
    /* §5.6.1: OWS around commas and empty list elements are fine. */
    assert_int_equal(cond(GET, INM(" \"a\" ,\t\"xyzzy\" "), ETAG, LM), 304);
    assert_int_equal(cond(GET, INM(", ,\"xyzzy\","), ETAG, LM), 304);
    assert_int_equal(cond(GET, INM("\"a\",,,W/\"xyzzy\""), ETAG, LM), 304);
    assert_int_equal(cond(GET, INM("\"a\",\"b\",\"xyzzy\""), ETAG, LM), 304);
    assert_int_equal(cond(GET, INM(" * "), ETAG, LM), 304);
    /* The empty tag is a valid tag that matches only itself. */
    assert_int_equal(cond(GET, INM("\"\""), "\"\"", LM), 304);
    assert_int_equal(cond(GET, INM("\"\""), ETAG, LM), 0);
    /* obs-text is allowed in etagc. */
    assert_int_equal(cond(GET, INM("\"\xc3\xa9t\xc3\xa9\""), "\"\xc3\xa9t\xc3\xa9\"", LM), 304);
}

static void test_inm_malformed_never_matches(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",           " ",          ",",           "xyzzy",          "\"xyzzy",      "xyzzy\"",
        "w/\"xyzzy\"", "W/xyzzy",   "W/ \"xyzzy\"", "\"xyzzy\" \"a\"", "\"a\" \"xyzzy\"", "*, \"xyzzy\"",
        "\"xyzzy\", *", "**",        "\"xy zzy\"",   "\"xyzzy\"x",     "W/",           "W",
        "\"xyzzy\";",  "\"x\"\"y\"", "\"\x7f\"",     "\"\x01\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (cond(GET, INM(bad[i]), ETAG, LM) != 0)
            fail_msg("If-None-Match: %s should not match", bad[i]);
}

static void test_inm_weak_comparison_table(void **state)
{
    (void)state;
    /* §8.8.3.2 table, weak column: W/"1" W/"1" yes; W/"1" W/"2" no;
     * W/"1" "1" yes; "1" "1" yes. */
    assert_int_equal(cond(GET, INM("W/\"1\""), "W/\"1\"", LM), 304);
    assert_int_equal(cond(GET, INM("W/\"1\""), "W/\"2\"", LM), 0);
    assert_int_equal(cond(GET, INM("W/\"1\""), "\"1\"", LM), 304);
    assert_int_equal(cond(GET, INM("\"1\""), "W/\"1\"", LM), 304);
    assert_int_equal(cond(GET, INM("\"1\""), "\"1\"", LM), 304);
}

static void test_inm_without_current_etag(void **state)
{
    (void)state;
    assert_int_equal(cond(GET, INM("\"xyzzy\""), NULL, LM), 0);
    assert_int_equal(cond(GET, INM("*"), NULL, LM), 304);
    /* An unusable ETag from a handler is treated as none. */
    assert_int_equal(cond(GET, INM("\"xyzzy\""), "xyzzy", LM), 0);
}

static void test_inm_overrides_ims(void **state)
{
    (void)state;
    /* §13.1.3: If-Modified-Since is ignored when If-None-Match is present. */
    hdrs h = {.inm = "\"other\"", .ims = LM_STR};
    assert_int_equal(cond(GET, h, ETAG, LM), 0);
    h.inm = "\"xyzzy\"";
    h.ims = LM_MINUS1; /* would say "modified" */
    assert_int_equal(cond(GET, h, ETAG, LM), 304);
}

/* ---- If-Modified-Since (§13.1.3) ---- */

static void test_ims(void **state)
{
    (void)state;
    assert_int_equal(cond(GET, IMS(LM_STR), ETAG, LM), 304);
    assert_int_equal(cond(GET, IMS(LM_PLUS1), ETAG, LM), 304);
    assert_int_equal(cond(GET, IMS(LM_MINUS1), ETAG, LM), 0);
    /* All three date formats. */
    assert_int_equal(cond(GET, IMS("Sunday, 06-Nov-94 08:49:37 GMT"), ETAG, LM), 304);
    assert_int_equal(cond(GET, IMS("Sun Nov  6 08:49:37 1994"), ETAG, LM), 304);
}

static void test_ims_ignored_cases(void **state)
{
    (void)state;
    /* Invalid date, several dates, no Last-Modified, not GET/HEAD. */
    assert_int_equal(cond(GET, IMS("yesterday"), ETAG, LM), 0);
    assert_int_equal(cond(GET, IMS(""), ETAG, LM), 0);
    assert_int_equal(cond(GET, IMS(LM_STR ", " LM_STR), ETAG, LM), 0);
    assert_int_equal(cond(GET, IMS(LM_STR "; length=10"), ETAG, LM), 0);
    assert_int_equal(cond(GET, IMS(LM_STR), ETAG, 0), 0);
    assert_int_equal(cond(POST, IMS(LM_STR), ETAG, LM), 0);
    /* A date later than now is invalid (RFC 2616 §14.25): ignored. */
    assert_int_equal(cond(GET, IMS(FUTURE), ETAG, LM), 0);
    /* A time just before now is fine. */
    time_t now = time(NULL);
    assert_int_equal(cond(GET, IMS(LM_STR), ETAG, now - 10 < LM ? now - 10 : LM), 304);
}

/* ---- If-Match (§13.1.1) ---- */

static void test_if_match_rfc_examples(void **state)
{
    (void)state;
    assert_int_equal(cond(POST, IM("\"xyzzy\""), ETAG, LM), 0);
    assert_int_equal(cond(POST, IM("\"xyzzy\", \"r2d2xxxx\", \"c3piozzzz\""), ETAG, LM), 0);
    assert_int_equal(cond(POST, IM("*"), ETAG, LM), 0);
    assert_int_equal(cond(POST, IM("\"r2d2xxxx\", \"c3piozzzz\""), ETAG, LM), 412);
    assert_int_equal(cond(GET, IM("\"r2d2xxxx\""), ETAG, LM), 412);
}

static void test_if_match_strong_comparison_table(void **state)
{
    (void)state;
    /* §8.8.3.2 table, strong column: only "1" "1" matches. */
    assert_int_equal(cond(POST, IM("W/\"1\""), "W/\"1\"", LM), 412);
    assert_int_equal(cond(POST, IM("W/\"1\""), "W/\"2\"", LM), 412);
    assert_int_equal(cond(POST, IM("W/\"1\""), "\"1\"", LM), 412);
    assert_int_equal(cond(POST, IM("\"1\""), "W/\"1\"", LM), 412);
    assert_int_equal(cond(POST, IM("\"1\""), "\"1\"", LM), 0);
    assert_int_equal(cond(POST, IM("W/\"1\", \"1\""), "\"1\"", LM), 0);
}

static void test_if_match_edge_cases(void **state)
{
    (void)state;
    assert_int_equal(cond(POST, IM("*"), NULL, 0), 0); /* the representation exists */
    assert_int_equal(cond(POST, IM("\"xyzzy\""), NULL, LM), 412);
    assert_int_equal(cond(POST, IM(""), ETAG, LM), 412);
    assert_int_equal(cond(POST, IM("xyzzy"), ETAG, LM), 412);
    assert_int_equal(cond(POST, IM("\"xyzzy\" junk"), ETAG, LM), 412);
    assert_int_equal(cond(POST, IM("*, \"xyzzy\""), ETAG, LM), 412);
    assert_int_equal(cond(POST, IM(" , \"xyzzy\" , "), ETAG, LM), 0);
    /* A tag is compared octet by octet, case included. */
    assert_int_equal(cond(POST, IM("\"XYZZY\""), ETAG, LM), 412);
    assert_int_equal(cond(POST, IM("\"xyzz\""), ETAG, LM), 412);
    assert_int_equal(cond(POST, IM("\"xyzzyy\""), ETAG, LM), 412);
}

/* ---- If-Unmodified-Since (§13.1.4) ---- */

static void test_ius(void **state)
{
    (void)state;
    assert_int_equal(cond(POST, IUS(LM_STR), ETAG, LM), 0);
    assert_int_equal(cond(POST, IUS(LM_PLUS1), ETAG, LM), 0);
    assert_int_equal(cond(POST, IUS(LM_MINUS1), ETAG, LM), 412);
    assert_int_equal(cond(GET, IUS(LM_MINUS1), ETAG, LM), 412);
    /* Ignored: invalid date, no Last-Modified. */
    assert_int_equal(cond(POST, IUS("not a date"), ETAG, LM), 0);
    assert_int_equal(cond(POST, IUS(LM_MINUS1), ETAG, 0), 0);
}

static void test_ius_ignored_with_if_match(void **state)
{
    (void)state;
    hdrs h = {.im = "\"xyzzy\"", .ius = LM_MINUS1};
    assert_int_equal(cond(POST, h, ETAG, LM), 0);
    h.im = "\"other\"";
    h.ius = LM_PLUS1;
    assert_int_equal(cond(POST, h, ETAG, LM), 412);
}

/* ---- evaluation order (§13.2.2) ---- */

static void test_precedence(void **state)
{
    (void)state;
    /* Step 1 before step 3: a failing If-Match wins over a matching INM. */
    hdrs h = {.im = "\"other\"", .inm = "\"xyzzy\""};
    assert_int_equal(cond(GET, h, ETAG, LM), 412);
    /* Step 2 before step 3. */
    h = (hdrs){.ius = LM_MINUS1, .inm = "\"xyzzy\""};
    assert_int_equal(cond(GET, h, ETAG, LM), 412);
    /* Passing step 1, then step 3 gives 304. */
    h = (hdrs){.im = "\"xyzzy\"", .inm = "\"xyzzy\""};
    assert_int_equal(cond(GET, h, ETAG, LM), 304);
    /* Passing step 2, then step 4 gives 304. */
    h = (hdrs){.ius = LM_STR, .ims = LM_STR};
    assert_int_equal(cond(GET, h, ETAG, LM), 304);
    /* All four present and true. */
    h = (hdrs){.im = "*", .ius = LM_STR, .inm = "\"other\"", .ims = LM_MINUS1};
    assert_int_equal(cond(GET, h, ETAG, LM), 0);
}

/* ---- Range (§14) ---- */

static void test_range_rfc_examples(void **state)
{
    (void)state;
    /* §14.1.2 examples on a 10000-byte representation. */
    assert_206("bytes=0-499", 10000, 0, 500);
    assert_206("bytes=500-999", 10000, 500, 500);
    assert_206("bytes=-500", 10000, 9500, 500);
    assert_206("bytes=9500-", 10000, 9500, 500);
    assert_206("bytes=0-0", 10000, 0, 1);
    assert_206("bytes=-1", 10000, 9999, 1);
    /* Several ranges: served whole (200) rather than multipart. */
    assert_range_status("bytes=0-0,-1", 10000, 200);
    assert_range_status("bytes= 0-999, 4500-5499, -1000", 10000, 200);
    assert_range_status("bytes=500-600,601-999", 10000, 200);
    assert_range_status("bytes=500-700,601-999", 10000, 200);
}

static void test_range_small_file(void **state)
{
    (void)state;
    assert_206("bytes=0-0", 5, 0, 1);
    assert_206("bytes=-1", 5, 4, 1);
    assert_206("bytes=4-", 5, 4, 1);
    assert_206("bytes=0-", 5, 0, 5);
    assert_206("bytes=0-4", 5, 0, 5);
    assert_206("bytes=1-3", 5, 1, 3);
    assert_206("bytes=-5", 5, 0, 5);
    assert_206("bytes=-6", 5, 0, 5);  /* suffix longer than the file */
    assert_206("bytes=2-100", 5, 2, 3); /* last-pos clamped */
    assert_206("bytes=4-4", 5, 4, 1);
    assert_range_status("bytes=5-", 5, 416);
    assert_range_status("bytes=5-5", 5, 416);
    assert_range_status("bytes=6-9", 5, 416);
    assert_range_status("bytes=-0", 5, 416);
    assert_range_status("bytes=-000", 5, 416);
}

static void test_range_empty_representation(void **state)
{
    (void)state;
    assert_range_status("bytes=0-", 0, 416);
    assert_range_status("bytes=0-0", 0, 416);
    assert_range_status("bytes=-0", 0, 416);
    /* A suffix of an empty body has no byte to name: served whole. */
    assert_range_status("bytes=-5", 0, 200);
    assert_range_status(NULL, 0, 200);
}

static void test_range_invalid_is_ignored(void **state)
{
    (void)state;
    /* §14.2: an invalid ranges-specifier or an unknown unit is ignored. */
    static const char *const bad[] = {
        "bytes=1-0", "bytes=10-9", "items=0-1", "bytes", "bytes=", "bytes=,", "bytes= , ,",
        "bytes =0-1", "bytes= =0-1", "bytes:0-1", "bytes 0-1", "bytes=0 -1", "bytes=0- 1",
        "bytes=- 1", "bytes=-", "bytes=--1", "bytes=0--1", "bytes=0-1-2", "bytes=a-b",
        "bytes=0-x", "bytes=x", "bytes=0", "bytes=1", "bytes=+1-2", "bytes=0x10-0x20",
        "bytes=0-1;", "bytes=0-1 x", "bytes=0-1,x", "bytes=0-1,1-0", "bytes=1.5-2",
        "bytes=-1-2", "bytesx=0-1", "byte=0-1", "", " ", "=0-1", "bytes=\xff", "bytes=0-1\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_range_status(bad[i], 10000, 200);
}

static void test_range_lenient_syntax(void **state)
{
    (void)state;
    /* The unit is case-insensitive (§14.1); list rules allow OWS and
     * empty elements (§5.6.1). */
    assert_206("BYTES=0-1", 10, 0, 2);
    assert_206("Bytes=0-1", 10, 0, 2);
    assert_206("bytes=0-1,", 10, 0, 2);
    assert_206("bytes=,0-1", 10, 0, 2);
    assert_206("bytes= 0-1 ", 10, 0, 2);
    assert_206(" bytes=0-1", 10, 0, 2);
    assert_206("bytes=\t0-1\t,\t", 10, 0, 2);
    assert_206("bytes=0000-0001", 10, 0, 2);
}

static void test_range_huge_numbers(void **state)
{
    (void)state;
    assert_206("bytes=0-99999999999999999999999999999", 10000, 0, 10000);
    assert_206("bytes=0-9223372036854775807", 10000, 0, 10000);
    assert_206("bytes=0-9223372036854775808", 10000, 0, 10000);
    assert_206("bytes=-99999999999999999999999999999", 10000, 0, 10000);
    assert_206("bytes=-9223372036854775807", 10000, 0, 10000);
    assert_206("bytes=9999-18446744073709551616", 10000, 9999, 1);
    assert_range_status("bytes=99999999999999999999999999999-", 10000, 416);
    assert_range_status("bytes=9223372036854775807-", 10000, 416);
    assert_range_status("bytes=9223372036854775808-9223372036854775809", 10000, 416);
    /* last < first is invalid (ignored) even when both are past INT64_MAX;
     * equal huge values are valid and unsatisfiable. */
    assert_range_status("bytes=99999999999999999999-99999999999999999998", 10000, 200);
    assert_range_status("bytes=99999999999999999999-0099999999999999999999", 10000, 416);
    assert_range_status("bytes=100000000000000000000-99999999999999999999", 10000, 200);
    assert_range_status("bytes=0010-9", 10000, 200);
    assert_206("bytes=0009-10", 10000, 9, 2);
    assert_206("bytes=000-0", 10000, 0, 1);
    /* Lengths near INT64_MAX never overflow start + len. */
    assert_206("bytes=9223372036854775805-", INT64_MAX, INT64_MAX - 2, 2);
    assert_206("bytes=0-", INT64_MAX, 0, INT64_MAX);
    assert_206("bytes=-1", INT64_MAX, INT64_MAX - 1, 1);
    assert_206("bytes=-9223372036854775807", INT64_MAX, 0, INT64_MAX);
    assert_206("bytes=1-99999999999999999999", INT64_MAX, 1, INT64_MAX - 1);
    assert_range_status("bytes=9223372036854775807-", INT64_MAX, 416);
}

static void test_range_absent_or_bad_length(void **state)
{
    (void)state;
    assert_range_status(NULL, 10, 200);
    assert_range_status("bytes=0-1", -1, 200);
    /* If-Range without Range is ignored (§13.1.5). */
    assert_int_equal(range_full(NULL, ETAG, ETAG, LM, 10), 200);
}

/* ---- If-Range (§13.1.5) ---- */

static void test_if_range_etag(void **state)
{
    (void)state;
    assert_int_equal(range_full("bytes=0-1", ETAG, ETAG, LM, 10), 206);
    assert_int_equal(range_full("bytes=0-1", " " ETAG " ", ETAG, LM, 10), 206);
    assert_int_equal(range_full("bytes=0-1", "\"other\"", ETAG, LM, 10), 200);
    /* A weak entity-tag never matches, on either side. */
    assert_int_equal(range_full("bytes=0-1", "W/\"xyzzy\"", ETAG, LM, 10), 200);
    assert_int_equal(range_full("bytes=0-1", "W/\"xyzzy\"", "W/\"xyzzy\"", LM, 10), 200);
    assert_int_equal(range_full("bytes=0-1", ETAG, "W/\"xyzzy\"", LM, 10), 200);
    /* No current ETag; a list is not allowed in If-Range. */
    assert_int_equal(range_full("bytes=0-1", ETAG, NULL, LM, 10), 200);
    assert_int_equal(range_full("bytes=0-1", ETAG ", \"a\"", ETAG, LM, 10), 200);
    assert_int_equal(range_full("bytes=0-1", "\"xyzzy", ETAG, LM, 10), 200);
    assert_int_equal(range_full("bytes=0-1", "*", ETAG, LM, 10), 200);
}

static void test_if_range_date(void **state)
{
    (void)state;
    /* Only an exact match with Last-Modified counts. */
    assert_int_equal(range_full("bytes=0-1", LM_STR, ETAG, LM, 10), 206);
    assert_int_equal(range_full("bytes=0-1", "Sunday, 06-Nov-94 08:49:37 GMT", ETAG, LM, 10), 206);
    assert_int_equal(range_full("bytes=0-1", "Sun Nov  6 08:49:37 1994", ETAG, LM, 10), 206);
    assert_int_equal(range_full("bytes=0-1", LM_PLUS1, ETAG, LM, 10), 200);
    assert_int_equal(range_full("bytes=0-1", LM_MINUS1, ETAG, LM, 10), 200);
    assert_int_equal(range_full("bytes=0-1", LM_STR, ETAG, 0, 10), 200);
    assert_int_equal(range_full("bytes=0-1", "garbage", ETAG, LM, 10), 200);
    assert_int_equal(range_full("bytes=0-1", "", ETAG, LM, 10), 200);
}

static void test_if_range_before_satisfiability(void **state)
{
    (void)state;
    /* A false If-Range means "send it all", never 416. */
    assert_int_equal(range_full("bytes=50-", "\"other\"", ETAG, LM, 10), 200);
    assert_int_equal(range_full("bytes=50-", ETAG, ETAG, LM, 10), 416);
    assert_int_equal(range_full("bytes=50-", LM_STR, ETAG, LM, 10), 416);
}

/* ---- etag_from_stat ---- */

static void test_etag_from_stat(void **state)
{
    (void)state;
    char out[64];
    etag_from_stat(0x5f, 123, 0x1a2b, 0x10, out, sizeof out);
    assert_string_equal(out, "\"5f-1a2b-10\"");
    etag_from_stat(0, 0, 0, 0, out, sizeof out);
    assert_string_equal(out, "\"0-0-0\"");
    etag_from_stat(INT64_MAX, 999999999, INT64_MAX, UINT64_MAX, out, sizeof out);
    assert_string_equal(out, "\"7fffffffffffffff-7fffffffffffffff-ffffffffffffffff\"");
    /* Usable as a validator: strong, and it matches itself. */
    etag_from_stat(1700000000, 0, 4096, 42, out, sizeof out);
    assert_int_equal(cond(GET, INM(out), out, LM), 304);
    assert_int_equal(range_full("bytes=0-1", out, out, LM, 10), 206);
    /* A short buffer is truncated and stays NUL-terminated. */
    char small[6];
    memset(small, 'X', sizeof small);
    etag_from_stat(0x5f, 0, 0x1a2b, 0x10, small, sizeof small);
    assert_string_equal(small, "\"5f-1");
    etag_from_stat(1, 0, 1, 1, small, 0); /* no room: nothing written */
    assert_string_equal(small, "\"5f-1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_conditions),
        cmocka_unit_test(test_inm_rfc_examples),
        cmocka_unit_test(test_inm_non_get_is_412),
        cmocka_unit_test(test_inm_list_syntax),
        cmocka_unit_test(test_inm_malformed_never_matches),
        cmocka_unit_test(test_inm_weak_comparison_table),
        cmocka_unit_test(test_inm_without_current_etag),
        cmocka_unit_test(test_inm_overrides_ims),
        cmocka_unit_test(test_ims),
        cmocka_unit_test(test_ims_ignored_cases),
        cmocka_unit_test(test_if_match_rfc_examples),
        cmocka_unit_test(test_if_match_strong_comparison_table),
        cmocka_unit_test(test_if_match_edge_cases),
        cmocka_unit_test(test_ius),
        cmocka_unit_test(test_ius_ignored_with_if_match),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_range_rfc_examples),
        cmocka_unit_test(test_range_small_file),
        cmocka_unit_test(test_range_empty_representation),
        cmocka_unit_test(test_range_invalid_is_ignored),
        cmocka_unit_test(test_range_lenient_syntax),
        cmocka_unit_test(test_range_huge_numbers),
        cmocka_unit_test(test_range_absent_or_bad_length),
        cmocka_unit_test(test_if_range_etag),
        cmocka_unit_test(test_if_range_date),
        cmocka_unit_test(test_if_range_before_satisfiability),
        cmocka_unit_test(test_etag_from_stat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
