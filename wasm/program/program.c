/*
 * wasm/program/program.c — a small C program whose every allocation comes from JS: a string-keyed
 * hash table (chained, rehashed with calloc as it grows) and a FIFO linked list of duplicated
 * strings, driven by a seeded random mix of inserts, deletes, lookups and queue traffic.
 *
 * Built without libc for wasm32 (wasm/build.sh): malloc, free, calloc and realloc are imported
 * from "env", the memory too. run(seed, ops) returns a checksum that the JS test recomputes
 * with a Map and an array; leftovers() reports what the program still holds (0 after cleanup).
 * Built with -DOFF_BY_ONE, dup() allocates one byte too few for the terminating NUL: the classic
 * overflow the debug hooks must report.
 */

typedef unsigned long size_t;
typedef unsigned int u32;

void *malloc(size_t n);
void free(void *p);
void *calloc(size_t n, size_t m);
void *realloc(void *p, size_t n);

/* No libc: the two helpers clang may call for loops it recognizes. */
void *memset(void *d, int c, size_t n) {
  volatile unsigned char *p = d;
  while (n--) *p++ = (unsigned char)c;
  return d;
}
void *memcpy(void *d, const void *s, size_t n) {
  volatile unsigned char *p = d;
  const unsigned char *q = s;
  while (n--) *p++ = *q++;
  return d;
}

static size_t len(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}
static int same(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}
static char *dup(const char *s) {
  size_t n = len(s);
#ifdef OFF_BY_ONE
  char *d = malloc(n); /* bug: no room for the NUL */
#else
  char *d = malloc(n + 1);
#endif
  if (!d) return 0;
  memcpy(d, s, n + 1);
  return d;
}

static u32 rng;
static u32 next(void) { /* xorshift32: the JS test uses the same sequence */
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

/* "k" followed by the decimal digits of v, in a caller's buffer. */
static void key_of(u32 v, char *buf) {
  char tmp[12];
  int n = 0;
  do tmp[n++] = (char)('0' + v % 10), v /= 10; while (v);
  buf[0] = 'k';
  for (int i = 0; i < n; i++) buf[1 + i] = tmp[n - 1 - i];
  buf[1 + n] = 0;
}

static u32 hash(const char *s) {
  u32 h = 2166136261u;
  while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
  return h;
}

typedef struct Node { struct Node *next; char *key; u32 value; } Node;
typedef struct { Node **slots; u32 nslots; u32 count; } Table;

static int table_grow(Table *t) {
  u32 n = t->nslots ? t->nslots * 2 : 8;
  Node **s = calloc(n, sizeof(Node *));
  if (!s) return 0;
  for (u32 i = 0; i < t->nslots; i++) {
    for (Node *e = t->slots[i], *nx; e; e = nx) {
      nx = e->next;
      u32 h = hash(e->key) & (n - 1);
      e->next = s[h];
      s[h] = e;
    }
  }
  free(t->slots);
  t->slots = s;
  t->nslots = n;
  return 1;
}

static Node **table_find(Table *t, const char *k) {
  Node **at = &t->slots[hash(k) & (t->nslots - 1)];
  while (*at && !same((*at)->key, k)) at = &(*at)->next;
  return at;
}

typedef struct Item { struct Item *next; char *text; } Item;

static u32 held_blocks; /* blocks the program holds: tells the test nothing leaked */

__attribute__((export_name("run"))) u32 run(u32 seed, u32 ops) {
  Table t = {0, 0, 0};
  Item *head = 0, *tail = 0;
  u32 queued = 0, hits = 0, sum = 0, popped = 0;
  char key[16];
  rng = seed ? seed : 1;
  if (!table_grow(&t)) return 0;
  for (u32 i = 0; i < ops; i++) {
    u32 r = next();
    u32 op = r % 10;
    key_of((r >> 8) % (ops / 4 + 1), key);
    if (op < 4) { /* insert or update */
      Node **at = table_find(&t, key);
      if (*at) (*at)->value += i;
      else {
        Node *e = malloc(sizeof(Node));
        if (!e) return 0;
        e->key = dup(key);
        if (!e->key) return 0;
        e->value = i;
        e->next = 0;
        *at = e;
        if (++t.count > t.nslots && !table_grow(&t)) return 0;
      }
    } else if (op < 6) { /* delete */
      Node **at = table_find(&t, key);
      if (*at) {
        Node *e = *at;
        *at = e->next;
        free(e->key);
        free(e);
        t.count--;
      }
    } else if (op < 8) { /* lookup */
      Node **at = table_find(&t, key);
      if (*at) hits++, sum += (*at)->value;
    } else if (op == 8 || queued == 0) { /* enqueue a copy of the key, grown by realloc */
      Item *it = malloc(sizeof(Item));
      if (!it) return 0;
      it->text = dup(key);
      if (!it->text) return 0;
      if (r & 0x100000) {
        size_t n = len(it->text);
        char *bigger = realloc(it->text, n + 1 + 64);
        if (!bigger) return 0;
        it->text = bigger;
      }
      it->next = 0;
      if (tail) tail->next = it; else head = it;
      tail = it;
      queued++;
    } else { /* dequeue */
      Item *it = head;
      head = it->next;
      if (!head) tail = 0;
      popped += len(it->text);
      free(it->text);
      free(it);
      queued--;
    }
  }
  u32 result = t.count * 31u + hits * 7u + sum + popped * 3u + queued;
  held_blocks = 1 + 2 * t.count + 2 * queued;
  /* Clean up everything. */
  for (u32 i = 0; i < t.nslots; i++) {
    for (Node *e = t.slots[i], *nx; e; e = nx) {
      nx = e->next;
      free(e->key);
      free(e);
    }
  }
  free(t.slots);
  while (head) {
    Item *it = head;
    head = it->next;
    free(it->text);
    free(it);
  }
  return result;
}

/* Blocks the last run held at its end, before cleaning up. */
__attribute__((export_name("held"))) u32 held(void) { return held_blocks; }
