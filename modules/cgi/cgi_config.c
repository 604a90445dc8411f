/*
 * The "cgi" settings object of a location:
 *   "interpreters": { ".py": "/usr/bin/python3" }  extension (with the dot) → program
 *   "timeout": 30                                   seconds without progress; 0 = none
 *   "env": { "NAME": "value" }                      extra environment variables
 */
#include "cgi.h"

#include <string.h>
#include <strings.h>
#include <unistd.h>

static int valid_env_name(const char *s)
{
    if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')))
        return 0;
    for (; *s; s++)
        if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
            return 0;
    return 1;
}

static int check_interpreters(const ws_settings *s, const cgi_conf *c)
{
    int ok = 1;
    for (size_t i = 0; i < c->n_interpreters; i++) {
        const char *ext = c->interpreters[2 * i], *prog = c->interpreters[2 * i + 1];
        if (ext[0] != '.' || ext[1] == '\0' || strchr(ext, '/')) {
            cgi_host->cfg_error(s, "interpreters", "\"%s\": an extension starts with a dot, as in \".py\"", ext);
            ok = 0;
        } else if (prog[0] != '/') {
            cgi_host->cfg_error(s, "interpreters", "\"%s\": the program must be an absolute path, not \"%s\"", ext,
                                prog);
            ok = 0;
        } else if (access(prog, X_OK) != 0) {
            cgi_host->cfg_error(s, "interpreters", "\"%s\": %s is not an executable file", ext, prog);
            ok = 0;
        }
    }
    return ok;
}

int cgi_configure(const ws_settings *s, const ws_location_info *loc, const void **out)
{
    cgi_conf *c = cgi_host->cfg_alloc(s, sizeof *c);
    if (!c)
        return -1;
    c->timeout_ms = CGI_DEFAULT_TIMEOUT_MS;
    int ok = 1;

    if (cgi_host->cfg_string_map(s, "interpreters", &c->interpreters, &c->n_interpreters) < 0)
        ok = 0;
    else if (!check_interpreters(s, c))
        ok = 0;

    double secs;
    int rc = cgi_host->cfg_seconds(s, "timeout", &secs);
    if (rc < 0) {
        ok = 0;
    } else if (rc > 0) {
        if (secs > 31536000.0) {
            cgi_host->cfg_error(s, "timeout", "at most one year (31536000 seconds)");
            ok = 0;
        } else {
            c->timeout_ms = (uint64_t)(secs * 1000.0 + 0.5);
            if (secs > 0 && c->timeout_ms == 0)
                c->timeout_ms = 1;
        }
    }

    if (cgi_host->cfg_string_map(s, "env", &c->env, &c->n_env) < 0) {
        ok = 0;
    } else {
        for (size_t i = 0; i < c->n_env; i++)
            if (!valid_env_name(c->env[2 * i])) {
                cgi_host->cfg_error(s, "env", "\"%s\" is not a valid environment variable name", c->env[2 * i]);
                ok = 0;
            }
    }

    if (!loc->root) {
        cgi_host->cfg_error(s, NULL, "cgi needs a root for this location");
        ok = 0;
    }
    *out = c;
    return ok ? 0 : -1;
}

/* The program for a file name by its extension (case-insensitive, longest
 * mapped suffix wins, so ".tar.py" can beat ".py"); NULL when none. */
const char *cgi_interpreter_for(const cgi_conf *conf, const char *filename)
{
    const char *base = strrchr(filename, '/');
    base = base ? base + 1 : filename;
    size_t blen = strlen(base), best_len = 0;
    const char *best = NULL;
    for (size_t i = 0; i < conf->n_interpreters; i++) {
        const char *ext = conf->interpreters[2 * i];
        size_t elen = strlen(ext);
        if (elen < blen && elen > best_len && strcasecmp(base + blen - elen, ext) == 0) {
            best = conf->interpreters[2 * i + 1];
            best_len = elen;
        }
    }
    return best;
}
