/*
 * Named shared-memory zones for modules (module.h ws_host.shm_*).
 *
 * A zone is one anonymous shared mapping made while the configuration is
 * loaded: in the master (or the single process) and so before any worker is
 * forked; every worker inherits it at the same address. A zone belongs to a
 * module and has a name; the configurations that asked for it hold a
 * reference each. A reload asks again: the same module, name and size find
 * the running zone (its data survives); another size makes a new, empty zone
 * and the old one lives on until the last configuration holding it goes.
 *
 * Inside the zone: a header with a process-shared robust mutex (a worker
 * killed while holding it does not wedge the others: the next locker gets
 * EOWNERDEAD, the core repairs the allocator and tells the module), the
 * module's root pointer slot, then the allocator's heap (shm_heap.h).
 *
 * Depends on libc and shm_heap.c only, so the test host compiles it too.
 */
#ifndef WEBSERV_SHM_ZONE_H
#define WEBSERV_SHM_ZONE_H

#include <stddef.h>
#include <stdint.h>

typedef struct shm_zone shm_zone;

/* The zones one configuration holds (config.h keeps one set per config). */
typedef struct shm_zone_set {
    shm_zone **v;
    size_t n, cap;
} shm_zone_set;

/* What shm_zone_get did, for the caller's log line. */
enum { SHM_ZONE_KEPT = 0, SHM_ZONE_NEW = 1, SHM_ZONE_RECREATED = 2 };

/* Limits on what a module may ask for. */
#define SHM_ZONE_NAME_MAX 64
#define SHM_ZONE_SIZE_MIN 1024
#define SHM_ZONE_SIZE_MAX ((size_t)1 << 40)

/*
 * The zone `name` of module `owner` with `size` usable bytes, for the
 * configuration that `set` belongs to. Within one set, asking again for the
 * same name returns the same zone (the size must match). Across sets, a
 * running zone with the same owner, name and size is shared (SHM_ZONE_KEPT);
 * one with another size is left to its holders and a new zone made
 * (SHM_ZONE_RECREATED, *old_size set). NULL with a message in err.
 */
shm_zone *shm_zone_get(shm_zone_set *set, const char *owner, const char *name, size_t size, int *what,
                       size_t *old_size, char *err, size_t errlen);
/* Drop the set's references; a zone no set holds is unmapped. */
void shm_zone_set_release(shm_zone_set *set);

/* The lock: 0, 2 (held; the previous holder died: the heap was rebuilt, the
 * module's data may be half-updated) or -1 (not held). */
int shm_zone_lock(shm_zone *z);
void shm_zone_unlock(shm_zone *z);
void *shm_zone_alloc(shm_zone *z, size_t n);
void shm_zone_free(shm_zone *z, void *p);
void **shm_zone_root(shm_zone *z);

const char *shm_zone_name(const shm_zone *z);
size_t shm_zone_size(const shm_zone *z);
struct shm_heap *shm_zone_heap(shm_zone *z); /* for tests */
uint64_t shm_zone_owner_deaths(const shm_zone *z); /* times a holder died with the lock */

#endif
