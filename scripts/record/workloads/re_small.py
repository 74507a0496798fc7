# SMALL: regular expressions and string methods over ~40 KB of generated text.
import re, random
random.seed(2)
text = "\n".join("%s=%d; user%d@example.com at 2024-%02d-%02d %s" % (
    random.choice(["key", "name", "val"]), random.randint(0, 999), i, i % 12 + 1, i % 28 + 1,
    "x" * random.randint(1, 30)) for i in range(800))
emails = re.findall(r"[\w.]+@[\w.]+", text)
dates = [m.groups() for m in re.finditer(r"(\d{4})-(\d\d)-(\d\d)", text)]
kv = dict(re.findall(r"(\w+)=(\d+)", text))
sub = re.sub(r"x+", lambda m: str(len(m.group())), text)
parts = [p.strip().title() for p in sub.split(";")]
print(len(emails), len(dates), len(kv), len(parts), sum(map(len, parts)))
