/*
 * mod_auth_basic on the test host: the Authorization parser (strict base64,
 * RFC 7617 user-id rules), the htpasswd parser (accepted hashes, errors with
 * line numbers), and the access hook end to end: 401 with the challenge,
 * verification deferred through offload, set_user, and the cache answering a
 * repeated pair at once. Single flight: requests with the same credential
 * that miss the cache while its verification runs share that one (counted by
 * the module's own webserv_auth_basic_verifications_total), also when the
 * first client or a waiting one leaves, and for a wrong password.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth_basic/basic_header.c"
#include "auth_basic/htpasswd.c"
#include "testhost.h"

static int parse(const char *v, const char **u, const char **p)
{
    static char buf[256];
    return ab_parse_authorization(v, buf, sizeof buf, u, p);
}

static void test_authorization_parser(void **state)
{
    (void)state;
    const char *u, *p;
    assert_int_equal(parse("Basic YWxpY2U6d29uZGVybGFuZA==", &u, &p), 0); /* alice:wonderland */
    assert_string_equal(u, "alice");
    assert_string_equal(p, "wonderland");
    assert_int_equal(parse("basic   YWxpY2U6d29uZGVybGFuZA==  ", &u, &p), 0);
    assert_int_equal(parse("Basic YTpiOmM=", &u, &p), 0); /* a:b:c: the password may hold ':' */
    assert_string_equal(p, "b:c");
    assert_int_equal(parse("Basic YTo=", &u, &p), 0); /* empty password */
    assert_string_equal(p, "");
    const char *bad[] = {
        NULL, "", "Basic", "Basic ", "Basic  ", "Bearer YTpi", "BasicYTpi", "Basic\tYTpi",
        "Basic YTpi=",        /* 5 characters */
        "Basic YTp",          /* not a multiple of 4 */
        "Basic YT=i",         /* data after padding */
        "Basic YTo==",        /* padding too long */
        "Basic Ytpi!",        /* not base64 */
        "Basic YWJj",         /* "abc": no colon */
        "Basic OmI=",         /* ":b": empty user */
        "Basic AToK",         /* NUL in the user */
        "Basic AXU6cA==",     /* control character in the user */
        "Basic YTpiAA==",     /* NUL in the password */
        "Basic YR==",         /* non-canonical padding bits */
        "Basic YTq=",         /* non-canonical */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(parse(bad[i], &u, &p), -1);
    char small[4];
    assert_int_equal(ab_parse_authorization("Basic YWxpY2U6d29uZGVybGFuZA==", small, sizeof small, &u, &p), -1);
}

static const char B12[] = "$2y$12$C6UzMDM.H6dfI/f/IKxGhuQt.vFXWLnbpxjhyNVhy1utC88zx3T5G";

static void test_htpasswd_parser(void **state)
{
    (void)state;
    char text[1024];
    snprintf(text, sizeof text, "# users\n\nalice:%s\r\nbob:$5$salt$hash\ncarol:$6$rounds=5000$salt$hash\n", B12);
    ab_table t;
    size_t line = 0;
    const char *why = NULL;
    assert_int_equal(ab_parse_htpasswd(text, strlen(text), &t, &line, &why), 0);
    assert_int_equal(t.n, 3);
    assert_string_equal(ab_table_find(&t, "alice"), B12);
    assert_string_equal(ab_table_find(&t, "bob"), "$5$salt$hash");
    assert_null(ab_table_find(&t, "Alice"));
    ab_table_free(&t);

    struct {
        const char *entry;
        const char *why;
    } bad[] = {
        {"eve:secret", "unsupported"}, {"eve:$apr1$x$y", "unsupported"}, {"eve:{SHA}abc=", "unsupported"},
        {"eve:$1$salt$hash", "unsupported"}, {"eve:abcDEF123456", "unsupported"}, {"eve", "user:hash"},
        {":$5$a$b", "user:hash"}, {"eve:$2y$12$short", "malformed bcrypt"}, {"eve:$2y$99$C6UzMDM.H6dfI/f/IKxGhuQt.vFXWLnbpxjhyNVhy1utC88zx3T5G", "malformed bcrypt"},
        {"eve:$5$", "malformed SHA-crypt"}, {"eve:$6$salt$", "malformed SHA-crypt"}, {"eve:$5$a$b:extra", "second"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(text, sizeof text, "alice:%s\n# c\n%s\n", B12, bad[i].entry);
        assert_int_equal(ab_parse_htpasswd(text, strlen(text), &t, &line, &why), -1);
        assert_int_equal(line, 3);
        if (!strstr(why, bad[i].why))
            fail_msg("%s: %s", bad[i].entry, why);
    }
}

static th_module *load(void)
{
    char so[1024];
    const char *b = getenv("WEBSERV_BUILD");
    snprintf(so, sizeof so, "%s/modules/mod_auth_basic.so", b ? b : "build");
    th_module *m = th_load_so(so);
    assert_non_null(m);
    return m;
}

static char users_path[] = "/tmp/ab-users-XXXXXX";

static void write_users(void)
{
    int fd = mkstemp(users_path);
    assert_true(fd >= 0);
    struct crypt_data cd = {0};
    char salt[64];
    assert_non_null(crypt_gensalt_rn("$2b$", 4, NULL, 0, salt, sizeof salt));
    char line[256];
    int n = snprintf(line, sizeof line, "alice:%s\n", crypt_r("wonderland", salt, &cd));
    assert_int_equal(write(fd, line, (size_t)n), n);
    close(fd);
}

static int login(th_module *m, const void *conf, const char *authorization, const char **user)
{
    const char *h[] = {authorization, NULL};
    th_request *t = th_request_new(m, conf, "GET", "/p", authorization ? h : NULL);
    int rc = th_access(t);
    if (rc == WS_DEFER)
        rc = th_phase_wait(t, 5000) | 0x10000; /* mark: it went through offload */
    static char who[64];
    snprintf(who, sizeof who, "%s", th_req(t)->remote_user ? th_req(t)->remote_user : "");
    *user = who;
    if ((rc & 0xffff) == 401)
        assert_string_equal(th_header(t, "WWW-Authenticate"), "Basic realm=\"Zone\", charset=\"UTF-8\"");
    th_request_end(t);
    return rc;
}

static void test_access_hook(void **state)
{
    (void)state;
    write_users();
    th_module *m = load();
    char err[512], json[512];
    snprintf(json, sizeof json, "{\"realm\": \"Zone\", \"user_file\": \"%s\"}", users_path);
    const void *conf = th_configure(m, json, "/", NULL, err, sizeof err);
    assert_non_null(conf);
    const char *user;
    assert_int_equal(login(m, conf, NULL, &user), 401);
    assert_int_equal(login(m, conf, "Authorization: Basic !!", &user), 401);
    /* alice:wrong, through offload */
    assert_int_equal(login(m, conf, "Authorization: Basic YWxpY2U6d3Jvbmc=", &user), 0x10000 | 401);
    /* mallory:wonderland: an unknown user costs a hash too */
    assert_int_equal(login(m, conf, "Authorization: Basic bWFsbG9yeTp3b25kZXJsYW5k", &user), 0x10000 | 401);
    /* alice:wonderland: verified on the pool, then from the cache at once */
    assert_int_equal(login(m, conf, "Authorization: Basic YWxpY2U6d29uZGVybGFuZA==", &user), 0x10000 | WS_CONTINUE);
    assert_string_equal(user, "alice");
    assert_int_equal(login(m, conf, "Authorization: Basic YWxpY2U6d29uZGVybGFuZA==", &user), WS_CONTINUE);
    assert_string_equal(user, "alice");
    /* a request that ends while its work runs: the end waits, no done, no crash */
    const char *h[] = {"Authorization: Basic YWxpY2U6d3Jvbmc=", NULL};
    th_request *t = th_request_new(m, conf, "GET", "/p", h);
    assert_int_equal(th_access(t), WS_DEFER);
    th_request_abort(t);
    th_unload(m);
    unlink(users_path);
}

static void test_config_errors(void **state)
{
    (void)state;
    th_module *m = load();
    char err[512];
    assert_null(th_configure(m, "{\"user_file\": \"/nonexistent/users\", \"realm\": \"x\"}", "/", NULL, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/users"));
    assert_null(th_configure(m, "{\"user_file\": \"/etc/hostname\"}", "/", NULL, err, sizeof err));
    assert_non_null(strstr(err, "realm"));
    th_unload(m);
}


/* ---- single flight ---- */

static const char ALICE[] = "Authorization: Basic YWxpY2U6d29uZGVybGFuZA=="; /* alice:wonderland */
static const char ALICE_WRONG[] = "Authorization: Basic YWxpY2U6d3Jvbmc=";   /* alice:wrong */

/* Each single-flight test: a fresh user file with alice:wonderland, the module
 * loaded and configured for it, and the counters as they were before the test. */
typedef struct {
    char path[64];
    th_module *m;
    const void *conf;
    uint64_t v0, s0; /* verified() and shared() before the test */
} flight;

/* A fresh user file (its own name) with alice's password; the path in `path`. */
static void users_file(char path[64], const char *password)
{
    strcpy(path, "/tmp/ab-flight-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct crypt_data cd = {0};
    char salt[64], line[256], tmp[80];
    assert_non_null(crypt_gensalt_rn("$2b$", 4, NULL, 0, salt, sizeof salt));
    int n = snprintf(line, sizeof line, "alice:%s\n", crypt_r(password, salt, &cd));
    snprintf(tmp, sizeof tmp, "%s.new", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(line, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0);
}

static const void *flight_conf(th_module *m, const char *path)
{
    char err[512], json[512];
    snprintf(json, sizeof json, "{\"realm\": \"Zone\", \"user_file\": \"%s\"}", path);
    const void *conf = th_configure(m, json, "/", NULL, err, sizeof err);
    assert_non_null(conf);
    return conf;
}

static th_request *ask(const flight *f, const char *authorization)
{
    const char *h[] = {authorization, NULL};
    return th_request_new(f->m, f->conf, "GET", "/p", h);
}

/* The end of a request as the core makes it: log hooks, then the end. */
static void finish(th_request *t, int how)
{
    ws_log_info info = {.size = sizeof info, .how = how};
    th_log_request(t, &info);
    if (how == WS_END_ABORTED)
        th_request_abort(t);
    else
        th_request_end(t);
}

static uint64_t verified(void) { return th_counter_value("webserv_auth_basic_verifications_total"); }
static uint64_t shared(void) { return th_counter_value("webserv_auth_basic_shared_total"); }

static int flight_setup(void **state)
{
    flight *f = calloc(1, sizeof *f);
    assert_non_null(f);
    users_file(f->path, "wonderland");
    f->m = load();
    f->conf = flight_conf(f->m, f->path);
    f->v0 = verified();
    f->s0 = shared();
    *state = f;
    return 0;
}

static int flight_teardown(void **state)
{
    flight *f = *state;
    th_unload(f->m);
    unlink(f->path);
    free(f);
    return 0;
}

#define N_SAME 8

static void test_same_credential_verified_once(void **state)
{
    flight *f = *state;
    th_request *t[N_SAME];
    for (int i = 0; i < N_SAME; i++) {
        t[i] = ask(f, ALICE);
        assert_int_equal(th_access(t[i]), WS_DEFER); /* the cache is cold: nobody is answered at once */
    }
    assert_int_equal(verified() - f->v0, 1); /* one hash for all eight */
    for (int i = N_SAME - 1; i >= 0; i--) {
        assert_int_equal(th_phase_wait(t[i], 5000), WS_CONTINUE);
        assert_string_equal(th_req(t[i])->remote_user, "alice");
        assert_string_equal(th_req(t[i])->auth_type, "Basic");
    }
    assert_int_equal(shared() - f->s0, N_SAME - 1);
    for (int i = 0; i < N_SAME; i++)
        finish(t[i], WS_END_DONE);
    /* and it was cached: the next one is answered at once */
    th_request *again = ask(f, ALICE);
    assert_int_equal(th_access(again), WS_CONTINUE);
    finish(again, WS_END_DONE);
    assert_int_equal(verified() - f->v0, 1);
}

static void test_wrong_password_shared_never_cached(void **state)
{
    flight *f = *state;
    th_request *t[N_SAME];
    for (int i = 0; i < N_SAME; i++) {
        t[i] = ask(f, ALICE_WRONG);
        assert_int_equal(th_access(t[i]), WS_DEFER);
    }
    /* a right password at the same time is another credential: its own flight */
    th_request *right = ask(f, ALICE);
    assert_int_equal(th_access(right), WS_DEFER);
    assert_int_equal(verified() - f->v0, 2);
    for (int i = 0; i < N_SAME; i++) {
        assert_int_equal(th_phase_wait(t[i], 5000), 401);
        assert_string_equal(th_header(t[i], "WWW-Authenticate"), "Basic realm=\"Zone\", charset=\"UTF-8\"");
        assert_null(th_req(t[i])->remote_user);
    }
    assert_int_equal(th_phase_wait(right, 5000), WS_CONTINUE);
    for (int i = 0; i < N_SAME; i++)
        finish(t[i], WS_END_DONE);
    finish(right, WS_END_DONE);
    /* a wrong password is never remembered: the next try is hashed again */
    th_request *later = ask(f, ALICE_WRONG);
    assert_int_equal(th_access(later), WS_DEFER);
    assert_int_equal(th_phase_wait(later, 5000), 401);
    finish(later, WS_END_DONE);
    assert_int_equal(verified() - f->v0, 3);
}

static void test_waiter_leaves_while_waiting(void **state)
{
    flight *f = *state;
    th_request *lead = ask(f, ALICE), *gone = ask(f, ALICE), *stays = ask(f, ALICE);
    assert_int_equal(th_access(lead), WS_DEFER);
    assert_int_equal(th_access(gone), WS_DEFER);
    assert_int_equal(th_access(stays), WS_DEFER);
    finish(gone, WS_END_ABORTED); /* its client left: it leaves the flight (ASan: nothing touches it after) */
    assert_int_equal(th_phase_wait(lead, 5000), WS_CONTINUE);
    assert_int_equal(th_phase_wait(stays, 5000), WS_CONTINUE);
    assert_string_equal(th_req(stays)->remote_user, "alice");
    assert_int_equal(shared() - f->s0, 1);
    finish(lead, WS_END_DONE);
    finish(stays, WS_END_DONE);
    assert_int_equal(verified() - f->v0, 1);
}

static void test_leader_leaves_result_still_used(void **state)
{
    flight *f = *state;
    th_request *lead = ask(f, ALICE), *w1 = ask(f, ALICE), *w2 = ask(f, ALICE);
    assert_int_equal(th_access(lead), WS_DEFER);
    assert_int_equal(th_access(w1), WS_DEFER);
    assert_int_equal(th_access(w2), WS_DEFER);
    /* The first client leaves: its work still runs to the end (done skipped);
     * the log hook after it settles the flight. */
    finish(lead, WS_END_ABORTED);
    assert_int_equal(th_phase_wait(w1, 5000), WS_CONTINUE);
    assert_int_equal(th_phase_wait(w2, 5000), WS_CONTINUE);
    finish(w1, WS_END_DONE);
    finish(w2, WS_END_DONE);
    /* and it filled the cache */
    th_request *next = ask(f, ALICE);
    assert_int_equal(th_access(next), WS_CONTINUE);
    finish(next, WS_END_DONE);
    /* a leader that leaves with a wrong password: its waiters get 401 */
    th_request *bad = ask(f, ALICE_WRONG), *bw = ask(f, ALICE_WRONG);
    assert_int_equal(th_access(bad), WS_DEFER);
    assert_int_equal(th_access(bw), WS_DEFER);
    finish(bad, WS_END_ABORTED);
    assert_int_equal(th_phase_wait(bw, 5000), 401);
    finish(bw, WS_END_DONE);
    assert_int_equal(verified() - f->v0, 2);
}

static void test_changed_user_file_starts_a_new_flight(void **state)
{
    flight *f = *state;
    th_request *before = ask(f, ALICE);
    assert_int_equal(th_access(before), WS_DEFER);
    /* alice's password changes while that runs; the module looks at the file
     * once a second at most, so the next request comes after that second */
    char tmp[64];
    users_file(tmp, "looking-glass");
    assert_int_equal(rename(tmp, f->path), 0);
    usleep(1100 * 1000);
    th_request *after = ask(f, ALICE);
    assert_int_equal(th_access(after), WS_DEFER); /* not joined: its key names the new file */
    assert_int_equal(verified() - f->v0, 2);
    assert_int_equal(th_phase_wait(before, 5000), WS_CONTINUE); /* checked against the file it came under */
    assert_int_equal(th_phase_wait(after, 5000), 401);
    finish(before, WS_END_DONE);
    finish(after, WS_END_DONE);
}

static void test_waiters_per_credential_bounded(void **state)
{
    flight *f = *state;
    enum { N = AB_FLIGHT_WAITERS + 2 };
    th_request **t = calloc(N, sizeof *t);
    assert_non_null(t);
    for (int i = 0; i < N; i++) {
        t[i] = ask(f, ALICE);
        assert_int_equal(th_access(t[i]), WS_DEFER);
    }
    /* the leader, AB_FLIGHT_WAITERS waiters, and one beyond that verifying alone */
    assert_int_equal(verified() - f->v0, 2);
    for (int i = 0; i < N; i++)
        assert_int_equal(th_phase_wait(t[i], 5000), WS_CONTINUE);
    for (int i = 0; i < N; i++)
        finish(t[i], WS_END_DONE);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_authorization_parser),
        cmocka_unit_test(test_htpasswd_parser),
        cmocka_unit_test(test_access_hook),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test_setup_teardown(test_same_credential_verified_once, flight_setup, flight_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_password_shared_never_cached, flight_setup, flight_teardown),
        cmocka_unit_test_setup_teardown(test_waiter_leaves_while_waiting, flight_setup, flight_teardown),
        cmocka_unit_test_setup_teardown(test_leader_leaves_result_still_used, flight_setup, flight_teardown),
        cmocka_unit_test_setup_teardown(test_changed_user_file_starts_a_new_flight, flight_setup, flight_teardown),
        cmocka_unit_test_setup_teardown(test_waiters_per_credential_bounded, flight_setup, flight_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
