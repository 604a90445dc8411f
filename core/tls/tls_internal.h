/* Shared between the files of core/tls; not for the rest of the core. */
#ifndef WEBSERV_TLS_INTERNAL_H
#define WEBSERV_TLS_INTERNAL_H

#include <openssl/ssl.h>

#include "config.h"

/* Install the shared, rotating ticket keys on ctx (tls_tickets.c). */
void tls_tickets_attach(SSL_CTX *ctx);

/* The client hello callback's view of the connection (SSL app data): where
 * it came in, so SNI can pick the server by the router's rules. */
typedef struct tls_route {
    const bind_conf *bind;        /* the listener's bind in the current config; NULL: address removed */
    const struct sockaddr *local; /* the connection's local address */
    char sni[256];                /* the name the client asked for, "" when none */
} tls_route;

/* The session cache shared by the workers (tls_cache.c), in a zone of zones. */
struct shm_zone_set;
int tls_cache_attach(SSL_CTX *ctx, struct shm_zone_set *zones, char *err, size_t errlen);

/* Apply server s's context to ssl (certificate, versions, ciphers, groups, verify). */
int tls_switch_ctx(SSL *ssl, const server_conf *s);

#endif
