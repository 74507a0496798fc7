/*
 * wasm/clients/main.c — a C program with main(), built as a WASI command over pymalloc (the
 * README's line for a program: wasi-libc's _start runs the constructors, main, then exit(),
 * which flushes stdout). It sorts its arguments into a list of malloc'd nodes (strdup'd words),
 * prints them with printf (left in stdout's buffer: only exit() writes them out), frees every
 * block, and leaves through exit() from a function below main with the number of words, so that
 * the exit code comes back from wasi.start. test/wasm-readme.test.ts runs the README's example
 * on it; built by wasm/build.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct node {
  struct node *next;
  char *word;
} node;

static node *insert(node *head, const char *w) {
  node *n = malloc(sizeof *n);
  if (n == NULL || (n->word = strdup(w)) == NULL) exit(100);
  node **at = &head;
  while (*at != NULL && strcmp((*at)->word, w) < 0) at = &(*at)->next;
  n->next = *at;
  *at = n;
  return head;
}

static void finish(int words) {
  exit(words); /* not a return from main: exit() flushes stdout and ends the program here */
}

int main(int argc, char **argv) {
  node *head = NULL;
  for (int i = 1; i < argc; i++) head = insert(head, argv[i]);
  int words = 0;
  while (head != NULL) {
    node *next = head->next;
    printf("%s\n", head->word);
    free(head->word);
    free(head);
    head = next;
    words++;
  }
  finish(words);
}
