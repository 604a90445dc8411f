/* webserv: command line and startup (SPEC §2). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "explain.h"
#include "log.h"
#include "master.h"
#include "metrics.h"
#include "schema.h"
#include "server.h"
#include "webserv/module.h"

#define DEFAULT_CONFIG "conf/server.json"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: webserv [CONFIG]          run; CONFIG defaults to " DEFAULT_CONFIG "\n"
            "       webserv -t [CONFIG]       check the config and load every module, print the routing table\n"
            "       webserv -t [CONFIG] --explain METHOD URL [HOST]\n"
            "                                 which server, location and module would answer, and why\n"
            "       webserv --schema [CONFIG] the JSON Schema of the config, with the keys of its modules\n"
            "       webserv -h | --help       this help\n"
            "       webserv -v | --version    version and module ABI version\n"
            "\n"
            "signals (to the master when \"workers\" > 1):\n"
            "  SIGINT, SIGTERM  stop accepting, finish in-flight requests, exit 0\n"
            "  SIGHUP           re-read the config; an invalid one is logged and the old one stays\n"
            "  SIGUSR1          reopen the log files (after rotation)\n"
            "environment:\n"
            "  WEBSERV_EVENT_BACKEND=epoll|poll  the event loop\n"
            "  WEBSERV_REUSEPORT=1               one SO_REUSEPORT socket per worker\n"
            "exit status: 0 clean stop or good -t; 1 bad config, module or listen address; 2 bad usage\n"
            "see webserv(8) and docs/operations.md\n");
}

int main(int argc, char **argv)
{
    int check = 0, schema = 0;
    const char *config = NULL;
    const char *explain[3] = {NULL, NULL, NULL}; /* --explain METHOD URL [HOST] */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "-v") == 0 || strcmp(a, "--version") == 0) {
            printf("webserv %s (module ABI %d.%d)\n", WEBSERV_VERSION, WS_ABI_MAJOR, WS_ABI_MINOR);
            return 0;
        }
        if (strcmp(a, "-t") == 0) {
            check = 1;
        } else if (strcmp(a, "--schema") == 0) {
            schema = 1;
        } else if (strcmp(a, "--explain") == 0) {
            if (i + 2 >= argc) {
                fprintf(stderr, "webserv: --explain needs METHOD and URL\n");
                usage(stderr);
                return 2;
            }
            check = 1;
            explain[0] = argv[++i];
            explain[1] = argv[++i];
            /* An optional HOST; an existing file there is the CONFIG instead. */
            if (i + 1 < argc && argv[i + 1][0] != '-' && (config || access(argv[i + 1], F_OK) != 0))
                explain[2] = argv[++i];
        } else if (a[0] == '-' && a[1] != 0) {
            fprintf(stderr, "webserv: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (!config) {
            config = a;
        } else {
            fprintf(stderr, "webserv: more than one config file given ('%s' and '%s')\n", config, a);
            usage(stderr);
            return 2;
        }
    }
    if (!config)
        config = DEFAULT_CONFIG;

    char err[2048];
    if (schema) {
        if (check || explain[0]) {
            fprintf(stderr, "webserv: --schema cannot be combined with -t or --explain\n");
            usage(stderr);
            return 2;
        }
        if (config_schema_print(stdout, config, err, sizeof err) < 0) {
            fprintf(stderr, "webserv: %s\n", err);
            return 1;
        }
        return 0;
    }
    /* The shared counters exist before the modules' init() (they may register
     * counters) and before any worker is forked (server/metrics.c). */
    if (!check && metrics_init() < 0) {
        fprintf(stderr, "webserv: cannot map the metrics memory\n");
        return 1;
    }
    ws_config *cfg = config_load(config, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "webserv: %s\n", err);
        return 1;
    }
    if (check) {
        printf("configuration OK\n");
        int rc = 0;
        if (explain[0])
            rc = explain_request(stdout, cfg, explain[0], explain[1], explain[2]);
        else
            explain_routes(stdout, cfg);
        config_free(cfg);
        return rc;
    }
    /* One worker is today's single process; more get a master (master.c). */
    if (cfg->workers > 1)
        return master_run(config, cfg);
    return server_run(config, cfg);
}
