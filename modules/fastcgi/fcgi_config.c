/*
 * The "fastcgi" settings object (SPEC §6): upstream (required), index
 * ("index.php"), split_path (true), env ({}), and extensions ([".php"]: the
 * file names this location hands to the application, so a location can keep
 * serving its other files statically; an addition to SPEC §6's keys).
 */
#include "fastcgi.h"

#include <string.h>

static const char *const default_extensions[] = {".php"};

static int valid_param_name(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

int fcgi_configure(const ws_settings *s, const ws_location_info *loc, const void **out)
{
    const ws_host *h = fcgi_host;
    fcgi_conf *c = h->cfg_alloc(s, sizeof *c);
    if (!c)
        return -1;
    int ok = up_conf_upstream(h, s, &c->upstream);
    if (ok < 0)
        return -1;
    c->index = "index.php";
    if (h->cfg_string(s, "index", &c->index) < 0)
        ok = 0;
    else if (!c->index[0] || strchr(c->index, '/')) {
        h->cfg_error(s, "index", "expected a file name without '/'");
        ok = 0;
    }
    c->split_path = 1;
    if (h->cfg_bool(s, "split_path", &c->split_path) < 0)
        ok = 0;
    c->extensions = default_extensions;
    c->n_extensions = 1;
    int rc = h->cfg_string_list(s, "extensions", &c->extensions, &c->n_extensions);
    if (rc < 0)
        ok = 0;
    for (size_t i = 0; rc > 0 && i < c->n_extensions; i++)
        if (c->extensions[i][0] != '.' || !c->extensions[i][1] || strchr(c->extensions[i], '/')) {
            h->cfg_error(s, "extensions", "\"%s\": expected a file name suffix such as \".php\"", c->extensions[i]);
            ok = 0;
        }
    if (h->cfg_string_map(s, "env", &c->env, &c->n_env) < 0) {
        ok = 0;
    } else {
        for (size_t i = 0; i < c->n_env; i++)
            if (!valid_param_name(c->env[2 * i])) {
                h->cfg_error(s, "env", "\"%s\" is not a valid parameter name", c->env[2 * i]);
                ok = 0;
            }
    }
    if (!loc->root) {
        h->cfg_error(s, NULL, "fastcgi needs a root for this location (SCRIPT_FILENAME)");
        ok = 0;
    }
    *out = c;
    return ok ? 0 : -1;
}
