# MEDIUM: report generation: string.Template, str.format with specs, f-strings, %-format, textual tables joined into pages (~5-20 MiB live).
import string, random, io
random.seed(24)
tpl = string.Template("$name ($dept) earned $$${amount} in $month; rank ${rank}\n")
depts = ["eng", "ops", "sales", "hr", "legal"]
people = [{"name": "P%05d" % i, "dept": random.choice(depts), "sal": [random.randint(1000, 9000) for _ in range(12)]} for i in range(20000)]
pages = []
for m in range(12):
    buf = io.StringIO()
    ranked = sorted(people, key=lambda p: -p["sal"][m])
    for r, p in enumerate(ranked[:6000]):
        buf.write(tpl.substitute(name=p["name"], dept=p["dept"], amount=p["sal"][m], month=m + 1, rank=r + 1))
    for d in depts:
        tot = sum(p["sal"][m] for p in people if p["dept"] == d)
        buf.write("{:<10}|{:>12,}|{:>8.2%}\n".format(d, tot, tot / 1e8))
        buf.write(f"{d!r:>12} {tot:#x} {tot / 7:.3e}\n")
    buf.write("%-20s %10d\n" % ("month total", sum(p["sal"][m] for p in people)))
    pages.append(buf.getvalue())
summary = "\n".join("|".join(f"{x:>7}" for x in p["sal"]) for p in people[:5000])
print(sum(map(len, pages)), len(summary))
