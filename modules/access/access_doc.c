/*
 * Words for `webserv --schema` (module.h ws_module_doc): the keys themselves
 * and their types come from ac_configure's getters; the patterns here are
 * the rules it and cidr_parse check (a rule is exactly one of allow/deny; a
 * range is "all", an address as inet_pton reads it, optionally /bits with at
 * most three digits). tests/schema/test_schema.py tries these patterns
 * against inet_pton.
 */
#include "webserv/module.h"

#include "../ip_pattern.h" /* H, OCTET, V4, IPV6 */

#define RANGE                                                                                                 \
    "{\"type\": \"string\", \"maxLength\": 63, \"pattern\": \"^(?:all|" V4                                   \
    "(?:/(?:0{0,2}[0-9]|0?[12][0-9]|0?3[0-2]))?|" IPV6                                                        \
    "(?:/(?:0{0,2}[0-9]|0?[1-9][0-9]|1[01][0-9]|12[0-8]))?)$\", "                                             \
    "\"examples\": [\"10.0.0.0/8\", \"2001:db8::/32\", \"::1\", \"all\"]}"

static const char *const access_defaults[] = {"allow", "deny", NULL};
static const ws_key_doc access_keys[] = {
    {"rules",
     "Tried in order; the first whose range holds the client's address decides: {\"allow\": RANGE} or "
     "{\"deny\": RANGE}, RANGE being \"all\", an IPv4/IPv6 address or a CIDR range (10.0.0.0/8, 2001:db8::/32)",
     "[]", NULL,
     "{\"items\": {\"properties\": {\"allow\": " RANGE ", \"deny\": " RANGE "}, \"additionalProperties\": false, "
     "\"minProperties\": 1, \"maxProperties\": 1}}"},
    {"default", "What happens when no rule matches (denied: 403)", "\"allow\"", access_defaults, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

WS_EXPORT const ws_module_doc webserv_module_doc = {
    .size = sizeof(ws_module_doc),
    .key_size = sizeof(ws_key_doc),
    .description = "Allows or denies by client address (an access-phase module): first matching rule, else default",
    .keys = access_keys,
};
