# LARGE: a big list of dicts and tuples (~150-250 MiB live), sorted, grouped, then dropped.
import random, sys
random.seed(7)
n = int(sys.argv[1]) if len(sys.argv) > 1 else 500000
recs = [{"id": i, "name": "user%07d" % i, "score": random.random(), "tags": ("a%d" % (i % 50), i % 7)} for i in range(n)]
pairs = [(r["score"], r["id"]) for r in recs]
pairs.sort()
groups = {}
for r in recs:
    groups.setdefault(r["tags"][0], []).append(r["id"])
print(len(recs), len(pairs), len(groups), pairs[0][1])
