/* A location's "upstream" key, read the same way by the proxy and fastcgi modules. */
#include "upstream.h"

#include <stddef.h>

int up_conf_upstream(const ws_host *h, const ws_settings *s, const ws_upstream **out)
{
    if (h->size < offsetof(ws_host, cfg_upstream) + sizeof h->cfg_upstream || !h->cfg_upstream) {
        h->cfg_error(s, NULL, "this server has no upstreams (ABI 1.2 cfg_upstream)");
        return -1;
    }
    int rc = h->cfg_upstream(s, "upstream", out);
    if (rc == 0)
        h->cfg_error(s, "upstream", "required: the name of a top-level upstream");
    return rc > 0;
}
