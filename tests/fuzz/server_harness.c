/* The in-process server of the fuzz targets: see server_harness.h. */
#include "server_harness.h"

#include <errno.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "log.h"
#include "loop.h"
#include "mime.h"
#include "server.h"

#define FREE_SLOTS 256 /* server.c's MAX_FREE: the free lists' capacity */
#define HANG_MS 3000

static server srv;
static listener lst;
static char tmpdir[64];
static const char *who; /* the target's name, for messages */
static int show;

static void write_file(const char *rel, const char *text)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", tmpdir, rel);
    FILE *f = fopen(p, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        abort();
}

static void make_dir(const char *rel)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", tmpdir, rel);
    if (mkdir(p, 0755) < 0 && errno != EEXIST)
        abort();
}

/* The document root and the config, in a fresh temporary folder. */
static void write_site(const char *exe_dir, const char *listen_json)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/webserv-%s-XXXXXX", who);
    if (!mkdtemp(tmpdir))
        abort();
    make_dir("www");
    make_dir("www/dir");
    make_dir("www/list");
    make_dir("www/list/sub");
    write_file("www/index.html", "<h1>home</h1>\n");
    write_file("www/a.txt", "hello a\n");
    write_file("www/dir/index.html", "dir index\n");
    write_file("www/list/x.json", "{}\n");
    write_file("www/list/sub/y.md", "# y\n");
    write_file("www/404.html", "<p>custom 404</p>\n");
    char cfg[8192];
    int n = snprintf(cfg, sizeof cfg,
        "{\n"
        " \"modules\": [\"static\", \"autoindex\", \"%s/fuzz-modules/mod_echo.so\", \"%s/fuzz-modules/mod_delay.so\"],\n"
        " \"modules_dir\": \"%s/modules\",\n"
        " \"error_log\": \"/dev/null\", \"log_level\": \"error\", \"access_log\": \"off\",\n"
        " \"limits\": {\"header_size\": 4096},\n"
        " \"mime_types\": {\"md\": \"text/markdown\"},\n"
        " \"servers\": [\n"
        "  {\"listen\": %s, \"server_names\": [\"a.example\"], \"root\": \"www\",\n"
        "   \"client_max_body_size\": \"64K\", \"error_pages\": {\"404\": \"www/404.html\"},\n"
        "   \"locations\": [\n"
        "    {\"path\": \"/\", \"static\": {}, \"autoindex\": {}},\n"
        "    {\"path\": \"/list\", \"static\": {}, \"autoindex\": {\"format\": \"json\", \"show_hidden\": true}},\n"
        "    {\"path\": \"/echo\", \"echo\": {}},\n"
        "    {\"path\": \"/count\", \"echo\": {\"count\": true}, \"client_max_body_size\": 100},\n"
        "    {\"path\": \"/delay\", \"delay\": {\"ms\": 0}},\n"
        "    {\"path\": \"/ro\", \"static\": {}, \"methods\": [\"GET\"]},\n"
        "    {\"path\": \"/old\", \"return\": {\"status\": 301, \"location\": \"/\"}},\n"
        "    {\"path\": \"/teapot\", \"return\": {\"status\": 418, \"body\": \"short and stout\"}}\n"
        "   ]},\n"
        "  {\"listen\": %s, \"server_names\": [\"b.example\"], \"root\": \"www/dir\",\n"
        "   \"locations\": [{\"path\": \"/\", \"static\": {}}]}\n"
        " ]\n"
        "}\n",
        exe_dir, exe_dir, exe_dir, listen_json, listen_json);
    if (n < 0 || (size_t)n >= sizeof cfg)
        abort();
    write_file("server.json", cfg);
}

static int remove_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void remove_site(void)
{
    nftw(tmpdir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

void harness_init(const char *name, const char *listen_json, const char *show_env)
{
    who = name;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        abort();
    exe[n] = '\0';
    write_site(dirname(exe), listen_json);
    atexit(remove_site);
    show = getenv(show_env) != NULL;

    char path[PATH_MAX], err[2048];
    snprintf(path, sizeof path, "%s/server.json", tmpdir);
    ws_config *cfg = config_load(path, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "%s: %s\n", who, err);
        abort();
    }
    signal(SIGPIPE, SIG_IGN);
    if (log_open_error(cfg->error_log, cfg->log_level) < 0 || log_open_access(cfg->access_log) < 0)
        abort();
    g_server = &srv;
    srv.loop = loop_new(LOOP_BACKEND_AUTO, 64);
    srv.cfg = calloc(1, sizeof *srv.cfg);
    srv.free_bufs = calloc(FREE_SLOTS, sizeof *srv.free_bufs);
    srv.free_pools = calloc(FREE_SLOTS, sizeof *srv.free_pools);
    if (!srv.loop || !srv.cfg || !srv.free_bufs || !srv.free_pools)
        abort();
    srv.cfg->c = cfg;
    srv.cfg->refs = 1;
    srv.rbuf_size = (cfg->header_size + 1 > 16384 ? cfg->header_size + 1 : 16384) + 16384;
    srv.started_ms = loop_now_ms(srv.loop);
    mime_set_overrides(cfg->mime_pairs, cfg->n_mime);
    lst.fd = -1;
    lst.bind = &cfg->binds[0];
    snprintf(lst.text, sizeof lst.text, "%s", cfg->binds[0].addr.text);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Read what the server sent; keeps the first bytes of the stream. */
static size_t drain(int fd, char *first, size_t *first_len)
{
    char buf[65536];
    size_t total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            return total;
        if (show)
            fwrite(buf, 1, (size_t)n, stderr);
        if (*first_len < 9) {
            size_t k = 9 - *first_len < (size_t)n ? 9 - *first_len : (size_t)n;
            memcpy(first + *first_len, buf, k);
            *first_len += k;
        }
        total += (size_t)n;
    }
}

size_t harness_connection(const uint8_t *data, size_t size, size_t pause_at, char first[9])
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    struct sockaddr_un peer = {.sun_family = AF_UNIX};
    uint64_t accepted = srv.stats.connections_accepted;
    conn_new(&srv, &lst, sv[0], (struct sockaddr *)&peer, sizeof peer);
    if (srv.stats.connections_accepted != accepted + 1)
        abort();

    size_t sent = 0, first_len = 0, upto = pause_at < size ? pause_at : size;
    int shut = 0;
    uint64_t shut_at = 0;
    while (srv.n_conns > 0) {
        if (sent < upto) {
            ssize_t n = write(sv[1], data + sent, upto - sent);
            if (n > 0)
                sent += (size_t)n;
            else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                sent = upto = size; /* the server closed: the rest can never arrive */
        }
        int ran = loop_run_once(srv.loop, 0);
        size_t got = drain(sv[1], first, &first_len);
        if (ran < 0)
            abort();
        if (sent == upto && upto < size && ran == 0 && got == 0) {
            upto = size; /* quiet at the pause: the rest */
            continue;
        }
        if (!shut && sent == size && ran == 0 && got == 0) {
            /* Quiet with all input given: the client is done sending. */
            shutdown(sv[1], SHUT_WR);
            shut = 1;
            shut_at = now_ms();
        }
        if (shut && now_ms() - shut_at > HANG_MS) {
            fprintf(stderr, "%s: the connection is still open %d ms after the client's EOF\n", who, HANG_MS);
            abort();
        }
    }
    drain(sv[1], first, &first_len);
    close(sv[1]);
    if (srv.conns != NULL)
        abort();
    return first_len;
}
