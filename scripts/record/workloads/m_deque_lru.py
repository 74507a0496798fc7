# MEDIUM, churn: collections.deque sliding windows, OrderedDict move_to_end eviction, defaultdict(list) growth, functools.lru_cache with eviction.
import collections, functools, random
random.seed(26)
@functools.lru_cache(maxsize=20000)
def f(k): return (k, str(k) * (k % 7 + 1), [k] * (k % 5))
od = collections.OrderedDict(); dd = collections.defaultdict(list); win = collections.deque(maxlen=5000)
hits = 0
for i in range(700000):
    k = int(random.paretovariate(1.2) * 10) % 200000
    v = f(k)
    win.append(v[1])
    if k in od: od.move_to_end(k); hits += 1
    else:
        od[k] = v[1] + "!"
        if len(od) > 30000: od.popitem(last=False)
    dd[k % 4000].append(i)
    if i % 50000 == 0: dd.clear()
print(f.cache_info().hits, hits, len(od), len(win), sum(len(x) for x in dd.values()))
