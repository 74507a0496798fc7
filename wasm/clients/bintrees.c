/*
 * wasm/clients/bintrees.c — the binary-trees benchmark in C (bottom-up trees of every depth up
 * to max_depth, checked by counting their nodes, with a long-lived tree alongside), plus a loop
 * of malloc/realloc/free of 8..500-byte strings: what a C program allocating from a wasm malloc
 * does. Built twice by wasm/build.sh from this one file: over wasi-libc's dlmalloc inside the
 * module, and over pymalloc (wasm/include/pymemcompat.c: malloc imported from the heap).
 * run(max_depth, strings) returns a checksum independent of the allocator.
 */
#include <stdlib.h>
#include <string.h>

typedef struct Node {
  struct Node *left, *right;
} Node;

static Node *bottom_up(int depth) {
  Node *n = malloc(sizeof(Node));
  if (depth > 0) {
    n->left = bottom_up(depth - 1);
    n->right = bottom_up(depth - 1);
  } else {
    n->left = n->right = 0;
  }
  return n;
}

static unsigned check(const Node *n) { return n->left ? 1 + check(n->left) + check(n->right) : 1; }

static void release(Node *n) {
  if (n->left) {
    release(n->left);
    release(n->right);
  }
  free(n);
}

static unsigned rng = 2463534242u;
static unsigned next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

/* Strings of 8..500 bytes: grown by realloc, kept in a ring of 256, the oldest freed. */
static unsigned strings_loop(int count) {
  static char *ring[256];
  unsigned sum = 0;
  for (int i = 0; i < count; i++) {
    size_t n = 8 + next() % 493;
    char *s = malloc(n);
    memset(s, 'a' + i % 26, n - 1);
    s[n - 1] = 0;
    if (next() % 4 == 0) {
      size_t m = 8 + next() % 493;
      s = realloc(s, m);
      s[m - 1] = 0;
    }
    sum += (unsigned char)s[0] + (unsigned)strlen(s);
    int k = i & 255;
    if (ring[k]) free(ring[k]);
    ring[k] = s;
  }
  for (int k = 0; k < 256; k++) {
    free(ring[k]);
    ring[k] = 0;
  }
  return sum;
}

__attribute__((export_name("run"))) unsigned run(int max_depth, int strings) {
  rng = 2463534242u;
  unsigned sum = 0;
  Node *stretch = bottom_up(max_depth + 1);
  sum += check(stretch);
  release(stretch);
  Node *long_lived = bottom_up(max_depth);
  for (int d = 4; d <= max_depth; d += 2) {
    int iterations = 1 << (max_depth - d + 4);
    for (int i = 0; i < iterations; i++) {
      Node *t = bottom_up(d);
      sum += check(t);
      release(t);
    }
  }
  sum += check(long_lived);
  release(long_lived);
  return sum + strings_loop(strings);
}
