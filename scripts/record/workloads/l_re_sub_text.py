# LARGE: re.sub / re.findall / split over ~3.5 MB of generated text, the results kept (~40-50 MiB live).
import re, random
random.seed(27)
words = ["alpha", "beta", "gamma", "delta", "x1", "y22", "2024-01-05", "foo@bar.org", "HTTP", "the", "and"]
lines = [" ".join(random.choice(words) for _ in range(random.randint(4, 18))) for _ in range(40000)]
text = "\n".join(lines)
t2 = re.sub(r"(\d{4})-(\d{2})-(\d{2})", r"\3/\2/\1", text)
t3 = re.sub(r"\b([a-z])([a-z]*)\b", lambda m: m.group(1).upper() + m.group(2), t2)
emails = re.findall(r"[\w.]+@[\w.]+", t3)
parts = re.split(r"\s+", t3)
counts = {}
for w in parts: counts[w] = counts.get(w, 0) + 1
lines2 = [re.sub(r"\s{2,}", " ", l.strip()) for l in t3.splitlines()]
print(len(text), len(t3), len(emails), len(parts), len(counts), len(lines2))
