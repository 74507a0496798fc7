# MEDIUM: dict/Counter-heavy word count and bigram statistics on generated text.
import collections, random, string
random.seed(5)
vocab = ["".join(random.choices(string.ascii_lowercase, k=random.randint(2, 10))) for _ in range(10000)]
words = random.choices(vocab, weights=[1 / (i + 1) for i in range(len(vocab))], k=int(__import__("sys").argv[1]) if len(__import__("sys").argv) > 1 else 120000)
text = " ".join(words)
c = collections.Counter(text.split())
big = collections.defaultdict(int)
toks = text.split()
for a, b in zip(toks, toks[1:]):
    big[(a, b)] += 1
by_len = collections.defaultdict(list)
for w in c:
    by_len[len(w)].append(w)
top = c.most_common(20)
print(len(c), len(big), top[0], sorted((k, len(v)) for k, v in by_len.items())[:3])
