# LARGE: a long-lived object cache (dict of small class instances with __dict__ and lists), LRU eviction by OrderedDict, periodic rebuilds (~150-250 MiB live).
import collections, random
random.seed(29)
class Rec:
    def __init__(self, k): self.k = k; self.name = "rec-%d" % k; self.vals = [k, k + 1.5, str(k)]; self.meta = {"k": k, "h": k * 31 % 1000}
cache = collections.OrderedDict(); LIMIT = 300000
misses = 0
for step in range(800000):
    k = random.randrange(700000) if step % 5 else random.randrange(5000)
    r = cache.get(k)
    if r is None:
        misses += 1; r = cache[k] = Rec(k)
        if len(cache) > LIMIT: cache.popitem(last=False)
    else:
        cache.move_to_end(k)
        if step % 11 == 0: r.vals.append(step)
snap = [(r.k, r.name, len(r.vals)) for r in cache.values()]
print(misses, len(cache), len(snap))
