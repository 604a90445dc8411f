/* mime_lookup (SPEC §5 static): by the last extension, case-insensitive, overrides first. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "mime.h"

int mime_builtin_sorted(void); /* core/http/mime.c, for this test */

#define OCTET "application/octet-stream"

static void test_table_sorted(void **state)
{
    (void)state;
    assert_true(mime_builtin_sorted());
}

static void test_builtin(void **state)
{
    (void)state;
    mime_set_overrides(NULL, 0);
    assert_string_equal(mime_lookup("index.html"), "text/html; charset=utf-8");
    assert_string_equal(mime_lookup("/a/b/INDEX.HTM"), "text/html; charset=utf-8");
    assert_string_equal(mime_lookup("style.css"), "text/css; charset=utf-8");
    assert_string_equal(mime_lookup("app.js"), "text/javascript; charset=utf-8");
    assert_string_equal(mime_lookup("data.json"), "application/json");
    assert_string_equal(mime_lookup("a.txt"), "text/plain; charset=utf-8");
    assert_string_equal(mime_lookup("logo.PNG"), "image/png");
    assert_string_equal(mime_lookup("p.JpEg"), "image/jpeg");
    assert_string_equal(mime_lookup("x.svg"), "image/svg+xml");
    assert_string_equal(mime_lookup("f.woff2"), "font/woff2");
    assert_string_equal(mime_lookup("m.wasm"), "application/wasm");
    assert_string_equal(mime_lookup("v.mp4"), "video/mp4");
    assert_string_equal(mime_lookup("doc.pdf"), "application/pdf");
    assert_string_equal(mime_lookup("z.7z"), "application/x-7z-compressed");
    assert_string_equal(mime_lookup("s.py"), "text/x-python; charset=utf-8");
    /* The last extension counts. */
    assert_string_equal(mime_lookup("archive.tar.gz"), "application/gzip");
    assert_string_equal(mime_lookup("page.html.bak"), OCTET);
}

static void test_unknown(void **state)
{
    (void)state;
    mime_set_overrides(NULL, 0);
    assert_string_equal(mime_lookup("README"), OCTET);
    assert_string_equal(mime_lookup("file.unknownext"), OCTET);
    assert_string_equal(mime_lookup("dir.html/file"), OCTET);
    assert_string_equal(mime_lookup(".html"), OCTET); /* a dot file has no extension */
    assert_string_equal(mime_lookup("trailing."), OCTET);
    assert_string_equal(mime_lookup(""), OCTET);
    assert_string_equal(mime_lookup("a.averyveryveryverylongextensionthatfitsnowhere"), OCTET);
    assert_string_equal(mime_lookup(NULL), OCTET);
    /* SPEC §5: a CGI script's source is not offered as text. */
    assert_string_equal(mime_lookup("/cgi-bin/env.cgi"), OCTET);
    assert_string_equal(mime_lookup("X.CGI"), OCTET);
}

static void test_overrides(void **state)
{
    (void)state;
    static const char *const pairs[] = {"md", "text/x-custom", "html", "text/html", "xyz", "chemical/x-xyz"};
    mime_set_overrides(pairs, 3);
    assert_string_equal(mime_lookup("notes.MD"), "text/x-custom");
    assert_string_equal(mime_lookup("a.html"), "text/html");
    assert_string_equal(mime_lookup("m.xyz"), "chemical/x-xyz");
    assert_string_equal(mime_lookup("a.css"), "text/css; charset=utf-8");
    mime_set_overrides(NULL, 0);
    assert_string_equal(mime_lookup("notes.md"), "text/markdown; charset=utf-8");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_sorted),
        cmocka_unit_test(test_builtin),
        cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_overrides),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
