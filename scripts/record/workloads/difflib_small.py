# SMALL: difflib between two ~300-line texts (unified diff, ndiff, ratio).
import difflib, random
random.seed(1)
words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
a = [" ".join(random.choice(words) for _ in range(8)) for _ in range(300)]
b = list(a)
for i in range(0, 300, 7):
    b[i] = b[i].upper()
del b[50:60]
b[100:100] = ["inserted line %d" % i for i in range(12)]
ud = list(difflib.unified_diff(a, b, "a", "b", lineterm=""))
nd = list(difflib.ndiff(a[:120], b[:120]))
r = difflib.SequenceMatcher(None, "\n".join(a), "\n".join(b)).ratio()
print(len(ud), len(nd), round(r, 4))
