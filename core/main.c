/* webserv: command line and startup (SPEC §2). */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "server.h"
#include "webserv/module.h"

#define DEFAULT_CONFIG "conf/server.json"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: webserv [CONFIG]          run; CONFIG defaults to " DEFAULT_CONFIG "\n"
            "       webserv -t [CONFIG]       check the config and load every module\n"
            "       webserv -h | --help       this help\n"
            "       webserv -v | --version    version and module ABI version\n"
            "\n"
            "signals: SIGINT/SIGTERM stop gracefully, SIGHUP reloads the config,\n"
            "         SIGUSR1 reopens the log files.\n"
            "environment: WEBSERV_EVENT_BACKEND=epoll|poll chooses the event loop.\n");
}

int main(int argc, char **argv)
{
    int check = 0;
    const char *config = NULL;
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
    ws_config *cfg = config_load(config, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "webserv: %s\n", err);
        return 1;
    }
    if (check) {
        printf("configuration OK\n");
        config_free(cfg);
        return 0;
    }
    return server_run(config, cfg);
}
