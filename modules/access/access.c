/*
 * mod_access (SPEC §6): allow or deny by client address, an access-phase
 * module (ABI 1.2) with no handler of its own.
 *
 *   "access": {"rules": [{"allow": "10.0.0.0/8"}, {"allow": "::1"}, {"deny": "all"}],
 *              "default": "allow"}
 *
 * Rules are tried in order and the first whose range holds the client's
 * address decides; when none does, "default" decides. Denied → 403.
 */
#include <string.h>

#include "cidr.h"
#include "webserv/module.h"

static const ws_host *host;

typedef struct rule {
    cidr range;
    int allow;
} rule;

typedef struct access_conf {
    rule *rules;
    size_t n_rules;
    int default_allow;
} access_conf;

static int ac_init(const ws_host *h)
{
    host = h;
    /* The phases need a 1.2 core; an older one would never call us. */
    return h->abi_minor >= 2 && h->size >= offsetof(ws_host, cfg_kind) + sizeof h->cfg_kind ? 0 : -1;
}

static int parse_rule(const ws_settings *s, rule *out)
{
    const char *allow = NULL, *deny = NULL;
    int a = host->cfg_string(s, "allow", &allow), d = host->cfg_string(s, "deny", &deny);
    if (a < 0 || d < 0)
        return -1;
    if (a + d != 1) {
        host->cfg_error(s, NULL, "a rule is {\"allow\": RANGE} or {\"deny\": RANGE}");
        return -1;
    }
    out->allow = a == 1;
    const char *text = a == 1 ? allow : deny;
    if (cidr_parse(text, &out->range) < 0) {
        host->cfg_error(s, a == 1 ? "allow" : "deny",
                        "\"%s\" is not \"all\", an IPv4/IPv6 address or a CIDR range (10.0.0.0/8, 2001:db8::/32)", text);
        return -1;
    }
    return 0;
}

static int ac_configure(const ws_settings *s, const ws_location_info *loc, const void **out)
{
    (void)loc;
    access_conf *c = host->cfg_alloc(s, sizeof *c);
    if (!c)
        return -1;
    const char *def = "allow";
    const ws_settings *const *list = NULL;
    size_t n = 0;
    if (host->cfg_string(s, "default", &def) < 0 || host->cfg_object_list(s, "rules", &list, &n) < 0)
        return -1;
    if (strcmp(def, "allow") != 0 && strcmp(def, "deny") != 0) {
        host->cfg_error(s, "default", "expected \"allow\" or \"deny\"");
        return -1;
    }
    c->default_allow = strcmp(def, "allow") == 0;
    c->rules = host->cfg_alloc(s, (n ? n : 1) * sizeof *c->rules);
    if (!c->rules)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (parse_rule(list[i], &c->rules[i]) < 0)
            return -1;
    c->n_rules = n;
    *out = c;
    return 0;
}

static int ac_access(ws_request *r)
{
    const access_conf *c = r->conf;
    if (!c)
        return WS_CONTINUE;
    uint8_t addr[16];
    if (cidr_addr(r->remote_addr, addr) < 0)
        return 403; /* an address we cannot read matches nothing we could allow */
    for (size_t i = 0; i < c->n_rules; i++)
        if (cidr_contains(&c->rules[i].range, addr))
            return c->rules[i].allow ? WS_CONTINUE : 403;
    return c->default_allow ? WS_CONTINUE : 403;
}

WS_EXPORT const ws_module webserv_module = {
    WS_MODULE_HEADER,
    .name = "access",
    .init = ac_init,
    .configure = ac_configure,
    .access = ac_access,
};
