/*
 * Words for `webserv --schema` (module.h ws_module_doc), in a file of their
 * own: the keys and their types come from proxy_configure's getters; the
 * patterns are what it checks (upstream required; host "client", "upstream"
 * or a host[:port] without spaces, control characters, "/" or "@";
 * trusted_proxies addresses as inet_pton reads them with /bits as strtol
 * does; timeouts at most a year). Whether the upstream is defined at the top
 * level is checked by the server only. tests/schema/test_schema.py tries the
 * address patterns against inet_pton.
 */
#include "webserv/module.h"

#include "../ip_pattern.h" /* H, OCTET, V4, IPV6 */
/* strtol's "/bits": leading white space, a sign, any zeros (proxy_parse_cidr). */
#define BITS(range) "(?:/[\\\\t-\\\\r ]*(?:[+]?0*" range "|-0+))?"
#define CIDR                                                                                                     \
    "{\"type\": \"string\", \"maxLength\": 63, \"pattern\": \"^(?:" V4 BITS("(?:[0-9]|[12][0-9]|3[0-2])") "|" IPV6 \
    BITS("(?:[0-9]|[1-9][0-9]|1[01][0-9]|12[0-8])") ")$\", \"examples\": [\"10.0.0.0/8\", \"::1\"]}"
#define SECONDS(what)                                                                                            \
    "{\"type\": \"number\", \"minimum\": 0, \"maximum\": 31536000, \"description\": \"" what                     \
    " (seconds, default: the upstream's)\"}"

static const ws_key_doc proxy_keys[] = {
    {"upstream", "Name of a top-level upstream the requests go to (required)", NULL, NULL, NULL},
    {"strip_prefix", "Remove the location's path from the start of the path sent upstream", "false", NULL, NULL},
    {"host",
     "Host sent upstream: \"client\" keeps the request's, \"upstream\" uses the server's address, anything else is "
     "sent as written (host[:port])",
     "\"client\"", NULL,
     "{\"pattern\": \"^[^\\\\u0000-\\\\u0020\\\\u007f/@]+$\", \"examples\": [\"client\", \"upstream\", "
     "\"app.internal:8080\"]}"},
    {"retries", "How many more servers an idempotent request may try after a reset or close before any response byte",
     "1", NULL, NULL},
    {"trusted_proxies",
     "Addresses or CIDR ranges of proxies in front of this server whose X-Forwarded-For/Forwarded are kept and "
     "extended (others' are replaced)",
     "[]", NULL, "{\"items\": " CIDR "}"},
    {"timeouts", "Per-location connect, send and read timeouts over the upstream's", NULL, NULL,
     "{\"properties\": {\"connect\": " SECONDS("Connecting to a server") ", \"send\": " SECONDS(
         "Between two writes of the request") ", \"read\": " SECONDS("Between two reads of the response") "}, "
     "\"additionalProperties\": false}"},
    {NULL, NULL, NULL, NULL, NULL},
};

WS_EXPORT const ws_module_doc webserv_module_doc = {
    .size = sizeof(ws_module_doc),
    .key_size = sizeof(ws_key_doc),
    .description = "HTTP/1.1 reverse proxy to an upstream group, streamed both ways",
    .keys = proxy_keys,
    .schema = "{\"required\": [\"upstream\"]}",
};
