# LARGE: a big dict of int -> tuple and a list of (str, float, int) tuples, json dumps/loads of a nested
# structure, then partial deletion (~100-150 MiB live).
import json, random, sys
random.seed(14)
n = int(sys.argv[1]) if len(sys.argv) > 1 else 400000
table = {i: (i, "k%06d" % i, i * 0.5, (i % 97, i % 89)) for i in range(n)}
rows = [("w%d" % (i % 5000), random.random(), i) for i in range(n)]
doc = {"meta": {"n": n}, "groups": {("g%d" % g): [list(table[i][:3]) for i in range(g, n // 2, 200)] for g in range(200)}}
s = json.dumps(doc, separators=(",", ":"))
back = json.loads(s)
for i in range(0, n, 2):
    del table[i]
rows.sort(key=lambda r: r[1])
print(len(s), len(back["groups"]), len(table), rows[0][2])
