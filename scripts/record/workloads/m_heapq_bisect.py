# MEDIUM: heapq (event simulation of tuples), bisect.insort into sorted lists, sorts of tuples by keys, merge (~5-30 MiB live).
import heapq, bisect, random, itertools
random.seed(23)
h = []; seq = itertools.count(); done = []
for i in range(3000): heapq.heappush(h, (random.random(), next(seq), "job%d" % i, (i, i * 2)))
t = 0.0
while h and len(done) < 200000:
    t, _, name, payload = heapq.heappop(h)
    done.append((t, name))
    if len(done) % 3: heapq.heappush(h, (t + random.expovariate(1.0), next(seq), name + "'" if len(name) < 12 else "r", payload))
sl = []
for i in range(40000): bisect.insort(sl, (random.randrange(10**6), "k%d" % i))
idx = [bisect.bisect_left(sl, (random.randrange(10**6),)) for _ in range(50000)]
rows = [(random.choice("abcdefgh"), random.randrange(100), random.random(), str(i)) for i in range(150000)]
rows.sort(key=lambda r: (r[0], -r[1])); rows.sort(key=lambda r: r[2], reverse=True)
merged = list(heapq.merge(sorted(r[2] for r in rows[:50000]), sorted(r[2] for r in rows[50000:])))
top = heapq.nlargest(100, rows, key=lambda r: r[1]); small = heapq.nsmallest(100, done)
print(len(done), len(sl), sum(idx) % 997, len(merged), top[0][1], small[0][1])
