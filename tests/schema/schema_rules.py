"""Config rules that a JSON Schema cannot express (docs/configuration.md
lists them): a config the server refuses for one of these reasons may still
pass the schema. Each entry: (rule, regular expression on the server's error)."""
import re

INEXPRESSIBLE = [
    ("files: a path must name an existing, readable file (error pages, CGI interpreters, modules)",
     r"cannot open|cannot read|is not a regular file|is not an executable file|No such file|cannot load|"
     r"dlopen|not a webserv module|mod_[A-Za-z0-9_-]+\.so|no certificate|has expired|not a PEM|not a DER|no PEM CA|"
     r"does not match the certificate"),
    ("modules: loading (ABI version, init refused, missing symbol, two modules with one name)",
     r"modules\[\d+\]"),
    ("uniqueness across objects: two servers on one address with overlapping names, a location path or a "
     "listen address given twice, an address TLS (or with other protocols) in one server and not in another",
     r"both listen on|is listed twice|is already the path of|is TLS in|other \"protocols\" than|"
     r"shares the socket of"),
    ("inheritance: a module that needs a root from its server or location", r"needs a (root|\\?\"root\\?\")"),
    ("a module's own rule beyond the types of its keys (its configure() refused the value)",
     r"refused by module|must not be|asked to fail"),
    ("sizes written as strings (\"100\") are checked for their range by the server only",
     r"must be between \d+ and \d+ bytes"),
    ("sizes beyond 2^63 bytes (\"99999999999G\") overflow in the server only", r"expected a size"),
    ("IPv6 addresses in brackets are checked for their characters only (a full IPv6 grammar is left to the "
     "server)", r"numeric IPv4 address, \[IPv6\]"),
    ("TLS cipher lists and group names: OpenSSL knows which it supports",
     r"names no usable TLS 1.2 cipher|unknown group"),
    ("references: a proxy or fastcgi \"upstream\" must name a group of the top-level \"upstreams\"",
     r"no upstream \"[^\"]*\" in the top-level \"upstreams\""),
    ("regular expressions: whether a rewrite \"match\" compiles (PCRE2), and whether the $N of its \"to\" "
     "are groups it has", r"bad regular expression|more than \d+ capture groups|refers to a group the pattern"),
    ("files: an htpasswd user_file must be a regular file of user:hash lines", r"user_file: .*(not a regular file|:\d+: )"),
    ("upstream server addresses (HOST:PORT or unix:/path) are checked by the server only",
     r"upstreams\.[^ ]*\.address: "),
    ("JSON syntax: duplicate keys and syntax errors are the parser's business", r"\.json:\d+:\d+: |duplicate"),
    ("\"${NAME}\" references are checked by the schema as written, before expansion",
     r"environment variable|\"\$\{"),
]


def inexpressible(error):
    """The rule a refusal falls under, or None."""
    for rule, rx in INEXPRESSIBLE:
        if re.search(rx, error or ""):
            return rule
    return None
