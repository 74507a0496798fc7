/* _pymtrace: CPython 3.11 allocation trace recorder (.pymtrace.gz, version 1; see
 * ../shared/traces/FORMAT.md).
 *
 * start(path, max_events=20000000) wraps the raw, mem and obj domains with PyMem_SetAllocator
 * (the originals are kept and called through) and logs every call the program makes:
 *   - blocks are named by dense slots, freed slots reused last-in-first-out;
 *   - calloc logs nelem*elsize (clamped to 2^32-1), sizes are clamped to 2^32-1;
 *   - realloc(NULL, n) is logged as malloc; realloc(p, 0) as a realloc to 0 (CPython resizes);
 *   - free(NULL) is not logged; a failed call (NULL result) is not logged (nothing changed);
 *   - free of a block allocated before start() (unknown pointer) is omitted, a realloc of one is
 *     logged as a malloc into a fresh slot (FORMAT.md, "What is and is not in a trace");
 *   - a realloc/free is logged with the domain of the call that made the slot live
 *     (FORMAT.md invariant 2); a different calling domain is counted in domain_mismatch;
 *   - nested calls (pymalloc passing > 512 B requests to PyMem_RawMalloc, which is our hook too)
 *     are not logged: a thread-local depth flag lets them through untouched.
 * A pthread mutex is held across the wrapped call and the logging (the raw domain is called
 * without the GIL), so the stream is in the order the allocator served the calls.
 * The file is written by a Py_AtExit callback (after interpreter finalisation), together with
 * PATH.recorder.json (the recorder counters). Only the process that called start() writes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

typedef struct {
    int domain; /* 0 raw, 1 mem, 2 obj (trace codes) */
    PyMemAllocatorDomain pydomain;
    PyMemAllocatorEx orig;
} hook_ctx;

static hook_ctx ctxs[3];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static __thread int depth;
static int recording;
static int installed;
static pid_t owner_pid;
static char *out_path;

static uint32_t *events; /* pairs (w, size) */
static uint64_t n_events, cap_events, max_events = 20000000;
static uint32_t next_slot;
static uint32_t *free_slots;
static uint64_t n_free_slots, cap_free_slots;

static uint64_t c_unknown_free, c_unknown_realloc, c_stale, c_domain_mismatch, c_slot_overflow,
    c_oom, c_failed_calls, c_null_free, c_truncated;

/* open-addressing hash map: pointer -> (slot << 2 | domain), linear probing, backward-shift delete */
typedef struct { uintptr_t key; uint32_t val; } entry;
static entry *table;
static uint64_t tcap, tcount; /* tcap a power of two */

static inline uint64_t hash_ptr(uintptr_t p) {
    uint64_t x = (uint64_t)p;
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33;
    return x;
}

static int map_grow(void) {
    uint64_t ncap = tcap ? tcap * 2 : (1u << 16);
    entry *nt = calloc(ncap, sizeof(entry));
    if (!nt) return -1;
    for (uint64_t i = 0; i < tcap; i++) {
        if (!table[i].key) continue;
        uint64_t j = hash_ptr(table[i].key) & (ncap - 1);
        while (nt[j].key) j = (j + 1) & (ncap - 1);
        nt[j] = table[i];
    }
    free(table);
    table = nt;
    tcap = ncap;
    return 0;
}

static entry *map_find(uintptr_t k) {
    if (!tcap) return NULL;
    uint64_t j = hash_ptr(k) & (tcap - 1);
    while (table[j].key) {
        if (table[j].key == k) return &table[j];
        j = (j + 1) & (tcap - 1);
    }
    return NULL;
}

static int map_insert(uintptr_t k, uint32_t v) {
    if ((tcount + 1) * 10 >= tcap * 7 && map_grow() < 0) return -1;
    uint64_t j = hash_ptr(k) & (tcap - 1);
    while (table[j].key) {
        if (table[j].key == k) { table[j].val = v; return 0; }
        j = (j + 1) & (tcap - 1);
    }
    table[j].key = k;
    table[j].val = v;
    tcount++;
    return 0;
}

static void map_remove(entry *e) {
    uint64_t i = (uint64_t)(e - table), mask = tcap - 1, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!table[j].key) break;
        uint64_t h = hash_ptr(table[j].key) & mask;
        /* can table[j] move to i? only if h is not cyclically in (i, j] */
        if ((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) {
            table[i] = table[j];
            i = j;
        }
    }
    table[i].key = 0;
    table[i].val = 0;
    tcount--;
}

static void stop_recording(void) { recording = 0; }

/* the event cap: checked before any state changes, so the trace and the counters agree */
static int room(void) {
    if (n_events < max_events) return 1;
    c_truncated = 1;
    stop_recording();
    return 0;
}

static void emit(int op, int domain, uint32_t slot, size_t size) {
    if (n_events >= max_events) { c_truncated = 1; stop_recording(); return; }
    if (n_events >= cap_events) {
        uint64_t nc = cap_events ? cap_events * 2 : (1u << 20);
        if (nc > max_events) nc = max_events;
        uint32_t *ne = realloc(events, nc * 8);
        if (!ne) { c_oom++; stop_recording(); return; }
        events = ne;
        cap_events = nc;
    }
    uint32_t sz = size > 0xffffffffu ? 0xffffffffu : (uint32_t)size;
    events[2 * n_events] = ((uint32_t)op << 30) | ((uint32_t)domain << 28) | slot;
    events[2 * n_events + 1] = sz;
    n_events++;
}

/* a new live block p in domain d: take a slot, log op (0 malloc / 1 calloc) */
static void new_block(int op, int d, void *p, size_t size) {
    entry *e = map_find((uintptr_t)p);
    if (e) { /* address still marked live: a free we never saw; the old slot stays live forever */
        c_stale++;
        map_remove(e);
    }
    uint32_t slot;
    if (n_free_slots) slot = free_slots[--n_free_slots];
    else {
        if (next_slot >= 0x0fffffffu) { c_slot_overflow++; stop_recording(); return; }
        slot = next_slot++;
    }
    if (map_insert((uintptr_t)p, (slot << 2) | (uint32_t)d) < 0) { c_oom++; stop_recording(); return; }
    emit(op, d, slot, size);
}

static void release_slot(uint32_t slot) {
    if (n_free_slots >= cap_free_slots) {
        uint64_t nc = cap_free_slots ? cap_free_slots * 2 : 4096;
        uint32_t *nf = realloc(free_slots, nc * 4);
        if (!nf) { c_oom++; stop_recording(); return; }
        free_slots = nf;
        cap_free_slots = nc;
    }
    free_slots[n_free_slots++] = slot;
}

static void *h_malloc(void *ctx_, size_t n) {
    hook_ctx *c = ctx_;
    if (depth) return c->orig.malloc(c->orig.ctx, n);
    depth = 1;
    pthread_mutex_lock(&lock);
    void *p = c->orig.malloc(c->orig.ctx, n);
    if (recording && room()) {
        if (p) new_block(0, c->domain, p, n);
        else c_failed_calls++;
    }
    pthread_mutex_unlock(&lock);
    depth = 0;
    return p;
}

static void *h_calloc(void *ctx_, size_t nelem, size_t elsize) {
    hook_ctx *c = ctx_;
    if (depth) return c->orig.calloc(c->orig.ctx, nelem, elsize);
    depth = 1;
    pthread_mutex_lock(&lock);
    void *p = c->orig.calloc(c->orig.ctx, nelem, elsize);
    if (recording && room()) {
        if (p) {
            size_t total;
            if (__builtin_mul_overflow(nelem, elsize, &total)) total = (size_t)-1;
            new_block(1, c->domain, p, total);
        } else c_failed_calls++;
    }
    pthread_mutex_unlock(&lock);
    depth = 0;
    return p;
}

static void *h_realloc(void *ctx_, void *old, size_t n) {
    hook_ctx *c = ctx_;
    if (depth) return c->orig.realloc(c->orig.ctx, old, n);
    depth = 1;
    pthread_mutex_lock(&lock);
    void *p = c->orig.realloc(c->orig.ctx, old, n);
    if (recording && room()) {
        if (!p) c_failed_calls++; /* the block (if any) is unchanged */
        else if (!old) new_block(0, c->domain, p, n);
        else {
            entry *e = map_find((uintptr_t)old);
            if (!e) { c_unknown_realloc++; new_block(0, c->domain, p, n); }
            else {
                uint32_t v = e->val, slot = v >> 2;
                int d = (int)(v & 3);
                if (d != c->domain) c_domain_mismatch++;
                if (p != old) {
                    map_remove(e);
                    entry *s = map_find((uintptr_t)p);
                    if (s) { c_stale++; map_remove(s); }
                    if (map_insert((uintptr_t)p, v) < 0) { c_oom++; stop_recording(); }
                }
                if (recording) emit(2, d, slot, n);
            }
        }
    }
    pthread_mutex_unlock(&lock);
    depth = 0;
    return p;
}

static void h_free(void *ctx_, void *p) {
    hook_ctx *c = ctx_;
    if (depth) { c->orig.free(c->orig.ctx, p); return; }
    depth = 1;
    pthread_mutex_lock(&lock);
    if (recording && room()) {
        if (!p) c_null_free++;
        else {
            entry *e = map_find((uintptr_t)p);
            if (!e) c_unknown_free++;
            else {
                uint32_t v = e->val, slot = v >> 2;
                int d = (int)(v & 3);
                if (d != c->domain) c_domain_mismatch++;
                map_remove(e);
                emit(3, d, slot, 0);
                release_slot(slot);
            }
        }
    }
    c->orig.free(c->orig.ctx, p);
    pthread_mutex_unlock(&lock);
    depth = 0;
}

static void put_u32(unsigned char *b, uint32_t v) { b[0] = v; b[1] = v >> 8; b[2] = v >> 16; b[3] = v >> 24; }

static void write_trace(void) {
    pthread_mutex_lock(&lock);
    static int written;
    stop_recording();
    if (!out_path || getpid() != owner_pid || written) {
        pthread_mutex_unlock(&lock);
        return;
    }
    written = 1;
    uint32_t max_slots = next_slot;
    unsigned char hdr[32];
    memset(hdr, 0, sizeof hdr);
    memcpy(hdr, "PYMTRACE", 8);
    put_u32(hdr + 8, 1);
    put_u32(hdr + 12, 0);
    put_u32(hdr + 16, (uint32_t)n_events);
    put_u32(hdr + 20, (uint32_t)(n_events >> 32));
    put_u32(hdr + 24, max_slots);
    put_u32(hdr + 28, 0);
    gzFile gz = gzopen(out_path, "wb6");
    int ok = gz != NULL;
    if (ok) {
        gzbuffer(gz, 1 << 20);
        ok = gzwrite(gz, hdr, 32) == 32;
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "little-endian host required"
#endif
        uint64_t off = 0, total = n_events * 8;
        const unsigned char *src = (const unsigned char *)events;
        while (ok && off < total) {
            uint64_t chunk = total - off > (1u << 26) ? (1u << 26) : total - off;
            ok = gzwrite(gz, src + off, (unsigned)chunk) == (int)chunk;
            off += chunk;
        }
        if (gzclose(gz) != Z_OK) ok = 0;
    }
    if (!ok) fprintf(stderr, "_pymtrace: could not write %s\n", out_path);
    size_t L = strlen(out_path);
    char *jp = malloc(L + 32);
    if (jp) {
        snprintf(jp, L + 32, "%s.recorder.json", out_path);
        FILE *f = fopen(jp, "w");
        if (f) {
            fprintf(f,
                    "{\n \"events\": %llu,\n \"max_slots\": %u,\n \"truncated\": %s,\n \"max_events\": %llu,\n"
                    " \"unknown_free_skipped\": %llu,\n \"unknown_realloc_as_malloc\": %llu,\n"
                    " \"stale_address_reuse\": %llu,\n \"domain_mismatch\": %llu,\n \"slot_overflow\": %llu,\n"
                    " \"recorder_oom\": %llu,\n \"failed_calls_skipped\": %llu,\n \"null_free_skipped\": %llu,\n"
                    " \"live_at_end\": %llu\n}\n",
                    (unsigned long long)n_events, max_slots, c_truncated ? "true" : "false",
                    (unsigned long long)max_events, (unsigned long long)c_unknown_free,
                    (unsigned long long)c_unknown_realloc, (unsigned long long)c_stale,
                    (unsigned long long)c_domain_mismatch, (unsigned long long)c_slot_overflow,
                    (unsigned long long)c_oom, (unsigned long long)c_failed_calls,
                    (unsigned long long)c_null_free, (unsigned long long)tcount);
            fclose(f);
        }
        free(jp);
    }
    if (getenv("PYMTRACE_VERBOSE"))
        fprintf(stderr, "_pymtrace: %llu events, max_slots %u -> %s\n", (unsigned long long)n_events,
                max_slots, out_path);
    free(events); events = NULL; n_events = cap_events = 0;
    free(table); table = NULL; tcap = tcount = 0;
    free(free_slots); free_slots = NULL;
    pthread_mutex_unlock(&lock);
}

static PyObject *py_start(PyObject *self, PyObject *args) {
    const char *path;
    unsigned long long maxev = 20000000ULL;
    if (!PyArg_ParseTuple(args, "s|K", &path, &maxev)) return NULL;
    if (installed) { PyErr_SetString(PyExc_RuntimeError, "_pymtrace already started"); return NULL; }
    out_path = strdup(path);
    if (!out_path) return PyErr_NoMemory();
    max_events = maxev;
    owner_pid = getpid();
    if (Py_AtExit(write_trace) < 0) { PyErr_SetString(PyExc_RuntimeError, "Py_AtExit failed"); return NULL; }
    static const PyMemAllocatorDomain doms[3] = {PYMEM_DOMAIN_RAW, PYMEM_DOMAIN_MEM, PYMEM_DOMAIN_OBJ};
    pthread_mutex_lock(&lock);
    for (int i = 0; i < 3; i++) {
        ctxs[i].domain = i;
        ctxs[i].pydomain = doms[i];
        PyMem_GetAllocator(doms[i], &ctxs[i].orig);
    }
    recording = 1;
    for (int i = 0; i < 3; i++) {
        PyMemAllocatorEx a = {&ctxs[i], h_malloc, h_calloc, h_realloc, h_free};
        PyMem_SetAllocator(doms[i], &a);
    }
    installed = 1;
    pthread_mutex_unlock(&lock);
    Py_RETURN_NONE;
}

static PyObject *py_counters(PyObject *self, PyObject *noargs) {
    pthread_mutex_lock(&lock);
    unsigned long long ev = n_events, live = tcount, uf = c_unknown_free, ur = c_unknown_realloc;
    unsigned int ms = next_slot;
    pthread_mutex_unlock(&lock);
    return Py_BuildValue("{s:K,s:I,s:K,s:K,s:K}", "events", ev, "max_slots", ms, "live", live,
                         "unknown_free_skipped", uf, "unknown_realloc_as_malloc", ur);
}

static PyMethodDef methods[] = {
    {"start", py_start, METH_VARARGS, "start(path, max_events=20000000): record until exit"},
    {"counters", py_counters, METH_NOARGS, "recorder counters so far"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "_pymtrace", NULL, -1, methods};

PyMODINIT_FUNC PyInit__pymtrace(void) { return PyModule_Create(&moddef); }
