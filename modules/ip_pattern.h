/*
 * JSON Schema patterns of IP addresses as inet_pton(3) reads them, for the
 * `webserv --schema` words of the modules that take addresses (access,
 * proxy). One copy, so both check the same thing; tests/schema/test_schema.py
 * tries them against inet_pton. Macros of string literals, pasted into the
 * modules' schema text (backslashes doubled for JSON inside C).
 */
#ifndef WEBSERV_MODULES_IP_PATTERN_H
#define WEBSERV_MODULES_IP_PATTERN_H

/* One hex group; a dotted IPv4 address without leading zeros (inet_pton). */
#define H "[0-9A-Fa-f]{1,4}"
#define OCTET "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
#define V4 "(?:" OCTET "(?:\\\\." OCTET "){3})"
/* RFC 4291 §2.2: eight groups, one "::" for one or more of them, or six and an IPv4 tail. */
#define IPV6 "(?:" \
    "(?:" H ":){7}" H "|" \
    "::(?:" H "(?::" H "){0,6})?" "|" \
    H "::(?:" H "(?::" H "){0,5})?" "|" \
    "(?:" H ":){1}" H "::(?:" H "(?::" H "){0,4})?" "|" \
    "(?:" H ":){2}" H "::(?:" H "(?::" H "){0,3})?" "|" \
    "(?:" H ":){3}" H "::(?:" H "(?::" H "){0,2})?" "|" \
    "(?:" H ":){4}" H "::(?:" H "(?::" H "){0,1})?" "|" \
    "(?:" H ":){5}" H "::(?:" H "(?::" H "){0,0})?" "|" \
    "(?:" H ":){6}" H "::" "|" \
    "(?:" H ":){6}" V4 "|" \
    "::(?:" H ":){0,5}" V4 "|" \
    H "::(?:" H ":){0,4}" V4 "|" \
    "(?:" H ":){1}" H "::(?:" H ":){0,3}" V4 "|" \
    "(?:" H ":){2}" H "::(?:" H ":){0,2}" V4 "|" \
    "(?:" H ":){3}" H "::(?:" H ":){0,1}" V4 "|" \
    "(?:" H ":){4}" H "::" V4 ")"

#endif
