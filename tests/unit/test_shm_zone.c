/* Shared-memory zones (core/module/shm_zone.c) and their allocator (shm_heap.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "shm_heap.h"
#include "shm_zone.h"

static _Alignas(16) char mem[64 * 1024];

static void test_heap_alloc_free_merge(void **state)
{
    (void)state;
    shm_heap *h = shm_heap_init(mem, sizeof mem);
    assert_non_null(h);
    shm_heap_stats st;
    assert_int_equal(shm_heap_check(h, &st), 0);
    size_t all = st.free_bytes;
    assert_int_equal(st.free_blocks, 1);
    void *p[100];
    for (int i = 0; i < 100; i++) {
        p[i] = shm_heap_alloc(h, (size_t)(i * 7 % 300) + 1);
        assert_non_null(p[i]);
        assert_int_equal((uintptr_t)p[i] % 16, 0);
        memset(p[i], 0xAB, (size_t)(i * 7 % 300) + 1); /* usable to the last byte */
    }
    assert_int_equal(shm_heap_check(h, &st), 0);
    assert_int_equal(st.used_blocks, 100);
    /* Free every other one, then the rest: neighbours merge back into one block. */
    for (int i = 0; i < 100; i += 2)
        shm_heap_free(h, p[i]);
    assert_int_equal(shm_heap_check(h, NULL), 0);
    for (int i = 1; i < 100; i += 2)
        shm_heap_free(h, p[i]);
    assert_int_equal(shm_heap_check(h, &st), 0);
    assert_int_equal(st.free_blocks, 1);
    assert_int_equal(st.free_bytes, all);
    assert_int_equal(st.bad_frees, 0);
}

static void test_heap_full_and_bad_frees(void **state)
{
    (void)state;
    shm_heap *h = shm_heap_init(mem, 4096);
    shm_heap_stats st;
    shm_heap_check(h, &st);
    void *big = shm_heap_alloc(h, st.largest_free);
    assert_non_null(big); /* the largest free block is usable whole */
    assert_null(shm_heap_alloc(h, 1));
    shm_heap_free(h, big);
    assert_null(shm_heap_alloc(h, 4096)); /* larger than the heap */
    assert_null(shm_heap_alloc(h, SIZE_MAX));
    void *a = shm_heap_alloc(h, 10);
    shm_heap_free(h, a);
    shm_heap_free(h, a);              /* double free */
    shm_heap_free(h, (char *)a + 16); /* not a block start */
    /* Caller data that looks like a used block's header is still not one. */
    uint64_t *b = shm_heap_alloc(h, 96);
    b[2] = 32 | 1;
    b[3] = 0;
    shm_heap_free(h, b + 4);
    shm_heap_free(h, mem + 8192);     /* outside */
    shm_heap_free(h, NULL);           /* ignored, not counted */
    assert_int_equal(shm_heap_check(h, &st), 0);
    assert_int_equal(st.bad_frees, 4);
    shm_heap_free(h, b);
    assert_null(shm_heap_init(mem, 40)); /* too small */
}

static void test_heap_rebuild(void **state)
{
    (void)state;
    shm_heap *h = shm_heap_init(mem, sizeof mem);
    void *p[20];
    for (int i = 0; i < 20; i++)
        p[i] = shm_heap_alloc(h, 100);
    for (int i = 0; i < 20; i += 3)
        shm_heap_free(h, p[i]);
    shm_heap_stats before, after;
    assert_int_equal(shm_heap_check(h, &before), 0);
    /* A holder that died mid-update may leave the free list wrong: the
     * rebuild goes by the blocks themselves. */
    memset(mem + 16, 0xFF, 8); /* the header's free_head */
    assert_int_equal(shm_heap_check(h, NULL), -1);
    shm_heap_rebuild(h);
    assert_int_equal(shm_heap_check(h, &after), 0);
    assert_int_equal(after.free_bytes, before.free_bytes);
    assert_int_equal(after.used_blocks, before.used_blocks);
    assert_non_null(shm_heap_alloc(h, 1000));
}

static void test_zone_kept_and_recreated(void **state)
{
    (void)state;
    char err[256];
    int what;
    size_t old = 0;
    shm_zone_set first = {0}, second = {0}, third = {0};
    shm_zone *a = shm_zone_get(&first, "kv", "store", 8192, &what, &old, err, sizeof err);
    assert_non_null(a);
    assert_int_equal(what, SHM_ZONE_NEW);
    assert_ptr_equal(shm_zone_get(&first, "kv", "store", 8192, &what, &old, err, sizeof err), a);
    assert_null(shm_zone_get(&first, "kv", "store", 4096, &what, &old, err, sizeof err));
    assert_non_null(strstr(err, "already asked for"));
    /* Another module's zone of the same name is another zone. */
    shm_zone *o = shm_zone_get(&first, "other", "store", 8192, &what, &old, err, sizeof err);
    assert_true(o != a);
    assert_int_equal(shm_zone_lock(a), 0);
    *shm_zone_root(a) = shm_zone_alloc(a, 8);
    strcpy(*shm_zone_root(a), "kept");
    shm_zone_unlock(a);

    /* A reload with the same size shares the zone and its data. */
    assert_ptr_equal(shm_zone_get(&second, "kv", "store", 8192, &what, &old, err, sizeof err), a);
    assert_int_equal(what, SHM_ZONE_KEPT);
    shm_zone_set_release(&first);
    assert_string_equal(*shm_zone_root(a), "kept");

    /* Another size: a new, empty zone; the old one stays with `second`. */
    shm_zone *b = shm_zone_get(&third, "kv", "store", 16384, &what, &old, err, sizeof err);
    assert_non_null(b);
    assert_int_equal(what, SHM_ZONE_RECREATED);
    assert_int_equal(old, 8192);
    assert_null(*shm_zone_root(b));
    assert_string_equal(*shm_zone_root(a), "kept");
    shm_zone_set_release(&third); /* that reload failed: the old zone is found again */
    assert_ptr_equal(shm_zone_get(&third, "kv", "store", 8192, &what, &old, err, sizeof err), a);
    shm_zone_set_release(&second);
    shm_zone_set_release(&third);

    assert_null(shm_zone_get(&first, "kv", "bad name", 8192, &what, &old, err, sizeof err));
    assert_null(shm_zone_get(&first, "kv", "", 8192, &what, &old, err, sizeof err));
    assert_null(shm_zone_get(&first, "kv", "tiny", 10, &what, &old, err, sizeof err));
    assert_non_null(strstr(err, "out of range"));
    shm_zone_set_release(&first);
}

static void test_lock_survives_a_dead_holder(void **state)
{
    (void)state;
    char err[256];
    int what;
    size_t old;
    shm_zone_set set = {0};
    shm_zone *z = shm_zone_get(&set, "t", "lock", 8192, &what, &old, err, sizeof err);
    assert_int_equal(shm_zone_lock(z), 0);
    assert_int_equal(shm_zone_lock(z), -1); /* error-checking: no self-deadlock */
    shm_zone_unlock(z);
    pid_t pid = fork();
    if (pid == 0) {
        shm_zone_lock(z);
        shm_zone_alloc(z, 100);
        _exit(0); /* dies holding the lock */
    }
    int ws;
    waitpid(pid, &ws, 0);
    assert_int_equal(shm_zone_lock(z), 2);
    assert_int_equal(shm_zone_owner_deaths(z), 1);
    assert_int_equal(shm_heap_check(shm_zone_heap(z), NULL), 0);
    shm_zone_unlock(z);
    assert_int_equal(shm_zone_lock(z), 0);
    shm_zone_unlock(z);
    shm_zone_set_release(&set);
}

/* Four processes allocate, count and free under the lock at once. */
static void test_concurrent_processes(void **state)
{
    (void)state;
    char err[256];
    int what;
    size_t old;
    shm_zone_set set = {0};
    shm_zone *z = shm_zone_get(&set, "t", "count", 1 << 20, &what, &old, err, sizeof err);
    shm_zone_lock(z);
    uint64_t *counter = shm_zone_alloc(z, sizeof *counter);
    *counter = 0;
    *shm_zone_root(z) = counter;
    shm_zone_unlock(z);
    enum { KIDS = 4, ROUNDS = 3000 };
    pid_t kids[KIDS];
    for (int k = 0; k < KIDS; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            void *mine[8] = {0};
            for (int i = 0; i < ROUNDS; i++) {
                if (shm_zone_lock(z) != 0)
                    _exit(2);
                uint64_t *c = *shm_zone_root(z);
                (*c)++;
                shm_zone_free(z, mine[i % 8]);
                mine[i % 8] = shm_zone_alloc(z, (size_t)(16 + (i * 31 + k) % 500));
                shm_zone_unlock(z);
            }
            shm_zone_lock(z);
            for (int i = 0; i < 8; i++)
                shm_zone_free(z, mine[i]);
            shm_zone_unlock(z);
            _exit(0);
        }
    }
    for (int k = 0; k < KIDS; k++) {
        int ws;
        assert_int_equal(waitpid(kids[k], &ws, 0), kids[k]);
        assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    }
    shm_heap_stats st;
    assert_int_equal(shm_heap_check(shm_zone_heap(z), &st), 0);
    assert_int_equal(st.used_blocks, 1); /* the counter */
    assert_int_equal(st.bad_frees, 0);
    assert_int_equal(*counter, KIDS * ROUNDS);
    shm_zone_set_release(&set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heap_alloc_free_merge),
        cmocka_unit_test(test_heap_full_and_bad_frees),
        cmocka_unit_test(test_heap_rebuild),
        cmocka_unit_test(test_zone_kept_and_recreated),
        cmocka_unit_test(test_lock_survives_a_dead_holder),
        cmocka_unit_test(test_concurrent_processes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
