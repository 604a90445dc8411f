/*
 * Words for `webserv --schema` (module.h ws_module_doc): the keys and their
 * types come from rw_configure's getters; the rules object below is what
 * compile_rule checks (match and to required, redirect one of the four
 * redirect codes, an internal rewrite's target a local path, a "$" followed by
 * a digit or "$"). PCRE2 alone can tell whether a pattern compiles and how
 * many groups it has.
 */
#include "webserv/module.h"

#define TO_REFS "^(?:[^$]|\\\\$[0-9$])*$"

static const ws_key_doc rewrite_keys[] = {
    {"rules",
     "Tried in order, the first whose PCRE2 \"match\" fits the decoded path applies: with \"redirect\" (301, 302, 307, "
     "308) the client is sent to \"to\" ($1…$9 the groups, $$ a dollar), without it the request goes on internally "
     "with that local path (10 rewrites → 500)",
     "[]", NULL,
     "{\"items\": {\"properties\": {"
     "\"match\": {\"type\": \"string\", \"description\": \"PCRE2 pattern on the decoded path\"}, "
     "\"to\": {\"type\": \"string\", \"pattern\": \"" TO_REFS "\", "
     "\"description\": \"Target; the request's query is kept unless it has its own\"}, "
     "\"redirect\": {\"type\": \"integer\", \"enum\": [301, 302, 307, 308], "
     "\"description\": \"Redirect status; absent: internal rewrite\"}}, "
     "\"required\": [\"match\", \"to\"], \"additionalProperties\": false, "
     "\"if\": {\"not\": {\"required\": [\"redirect\"]}}, "
     "\"then\": {\"properties\": {\"to\": {\"pattern\": \"^/\"}}}}}"},
    {"fallback",
     "Local path a GET or HEAD continues with when nothing on disk answers its own path (a single-page app's "
     "/index.html)",
     NULL, NULL, "{\"pattern\": \"^/\"}"},
    {NULL, NULL, NULL, NULL, NULL},
};

WS_EXPORT const ws_module_doc webserv_module_doc = {
    .size = sizeof(ws_module_doc),
    .key_size = sizeof(ws_key_doc),
    .description = "Rewrites or redirects by PCRE2 rules on the path (a rewrite-phase module), with an optional "
                   "fallback",
    .keys = rewrite_keys,
};
