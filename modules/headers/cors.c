/* CORS origins (Fetch standard, "CORS protocol"): "*" or an exact list. */
#include <string.h>
#include <strings.h>

#include "headers.h"

int hd_origin_allowed(const hd_cors *c, const char *origin)
{
    if (!origin || !origin[0])
        return 0;
    if (c->any_origin)
        return 1;
    for (size_t i = 0; i < c->n_origins; i++)
        if (strcasecmp(c->origins[i], origin) == 0) /* scheme and host are case-insensitive */
            return 1;
    return 0;
}
