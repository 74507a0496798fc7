# MEDIUM: generate a CSV file on disk, parse it with csv.DictReader, Counter / defaultdict aggregation, statistics.
import csv, collections, random, statistics, io
random.seed(11)
cities = ["Paris", "Lyon", "Nice", "Lille", "Brest", "Metz", "Caen", "Dijon", "Tours", "Nancy"]
with open("data.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id", "city", "product", "qty", "price", "comment"])
    for i in range(60000):
        w.writerow([i, random.choice(cities), "p%03d" % random.randint(0, 400), random.randint(1, 20),
                    "%.2f" % (random.random() * 100), "ok" if i % 5 else "late, \"see notes\""])
cnt = collections.Counter(); rev = collections.defaultdict(float); prods = collections.defaultdict(set)
prices = []
with open("data.csv", newline="") as f:
    for row in csv.DictReader(f):
        cnt[row["city"]] += int(row["qty"])
        rev[row["product"]] += int(row["qty"]) * float(row["price"])
        prods[row["city"]].add(row["product"])
        prices.append(float(row["price"]))
top = cnt.most_common(3); best = sorted(rev.items(), key=lambda kv: -kv[1])[:10]
print(top, best[0], statistics.mean(prices), statistics.median(prices), {c: len(p) for c, p in prods.items()}["Paris"])
