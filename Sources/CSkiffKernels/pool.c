/* A persistent worker pool for the engine's parallel loops. Workers spin briefly (with PAUSE) after each job
   so the next op's hand-off costs well under a microsecond, then sleep on a futex. One job runs at a time; a
   caller that finds the pool busy (another inference, or a loop nested in a job) runs its loop inline.

   Work is claimed through one self-describing 64-bit ticket — job number (16 bits), count (24), next index
   (24) — with compare-and-swap, so a worker that wakes late can never take an index of a job it did not
   read the count of; the job's function and context are published before its ticket (release) and read
   after a successful claim (acquire), and stay fixed until every claimed index has been reported done. */
#define _GNU_SOURCE
#include "skiff_kernels.h"
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define PAUSE() _mm_pause()
#else
#define PAUSE() ((void)0)
#endif

/* Spin iterations before a worker sleeps. Normally ~100–200 µs (1 << 14), longer than the gap between any two
   ops, so the hand-off to the next op costs well under a microsecond. But a worker that spins is a CPU hog in the
   scheduler's eyes: with another process busy on one core, a worker descheduled in the middle of its share
   stalls the op for a whole time slice, and two threads ran MobileNetV2-160 slower than one (median 8.4 vs
   6.2 ms, 8 alternated rounds). A worker that sleeps between ops is woken ahead of a busy neighbour. So when the
   caller finds itself waiting longer for the workers than its own share took (and over STALL_NS), workers spin
   only SHORT_SPINS (a few µs) for the next second: two threads are then no slower than one under that
   contention (6.0 vs 6.3 ms), while uncontended runs keep the long spin (always sleeping soon cost ~10%). */
#define SPINS (1 << 14)
#define SHORT_SPINS 300
#define STALL_NS 200000u
#define SHORT_FOR_NS 1000000000u
#define MAX_COUNT ((1 << 24) - 1)

static struct {
    _Atomic unsigned int generation; /* bumped per job; sleeping workers wait on it (futex word) */
    _Atomic uint64_t ticket;
    _Atomic int done;
    _Atomic int sleepers;
    _Atomic int busy;
    skiff_task_fn fn;
    void *ctx;
    int workers;
    pthread_mutex_t start_lock;
} pool = {.start_lock = PTHREAD_MUTEX_INITIALIZER};

/* Until this time (CLOCK_MONOTONIC ns) workers spin only SHORT_SPINS. */
static _Atomic uint64_t short_spins_until;

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void futex_wait(_Atomic unsigned int *addr, unsigned int expected) {
    syscall(SYS_futex, (unsigned int *)addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake_all(_Atomic unsigned int *addr) {
    syscall(SYS_futex, (unsigned int *)addr, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
}

static void drain(void) {
    uint64_t t = atomic_load_explicit(&pool.ticket, memory_order_acquire);
    for (;;) {
        uint64_t index = t & MAX_COUNT, count = (t >> 24) & MAX_COUNT;
        if (index >= count) return;
        if (!atomic_compare_exchange_weak_explicit(&pool.ticket, &t, t + 1, memory_order_acq_rel, memory_order_acquire)) continue;
        pool.fn(pool.ctx, (int)index);
        atomic_fetch_add_explicit(&pool.done, 1, memory_order_acq_rel);
        t = atomic_load_explicit(&pool.ticket, memory_order_acquire);
    }
}

static void *worker(void *arg) {
    (void)arg;
    unsigned int seen = atomic_load_explicit(&pool.generation, memory_order_acquire);
    for (;;) {
        unsigned int g;
        int spins = 0, limit = now_ns() < atomic_load_explicit(&short_spins_until, memory_order_relaxed) ? SHORT_SPINS : SPINS;
        while ((g = atomic_load_explicit(&pool.generation, memory_order_acquire)) == seen) {
            if (++spins < limit) { PAUSE(); continue; }
            atomic_fetch_add(&pool.sleepers, 1);
            if (atomic_load(&pool.generation) == seen) futex_wait(&pool.generation, seen);
            atomic_fetch_sub(&pool.sleepers, 1);
            spins = 0;
        }
        seen = g;
        drain();
    }
    return NULL;
}

int skiff_pool_start(int threads) {
    pthread_mutex_lock(&pool.start_lock);
    while (pool.workers < threads - 1) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &attr, worker, NULL);
        pthread_attr_destroy(&attr);
        if (rc != 0) break;
        pool.workers++;
    }
    int n = pool.workers;
    pthread_mutex_unlock(&pool.start_lock);
    return n;
}

void skiff_pool_run(skiff_task_fn fn, void *ctx, int count) {
    int expected = 0;
    if (count <= 1 || count > MAX_COUNT || pool.workers == 0 || !atomic_compare_exchange_strong(&pool.busy, &expected, 1)) {
        for (int i = 0; i < count; i++) fn(ctx, i);
        return;
    }
    static uint64_t job = 0;
    job = (job + 1) & 0xFFFF;
    pool.fn = fn;
    pool.ctx = ctx;
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    atomic_store_explicit(&pool.ticket, (job << 48) | ((uint64_t)count << 24), memory_order_release);
    atomic_fetch_add(&pool.generation, 1);
    if (atomic_load(&pool.sleepers) > 0) futex_wake_all(&pool.generation);
    uint64_t start = now_ns();
    drain();
    if (atomic_load_explicit(&pool.done, memory_order_acquire) < count) {
        uint64_t mine = now_ns();
        while (atomic_load_explicit(&pool.done, memory_order_acquire) < count) PAUSE();
        uint64_t end = now_ns(), waited = end - mine;
        if (waited > STALL_NS && waited > mine - start) atomic_store_explicit(&short_spins_until, end + SHORT_FOR_NS, memory_order_relaxed);
    }
    atomic_store_explicit(&pool.busy, 0, memory_order_release);
}
