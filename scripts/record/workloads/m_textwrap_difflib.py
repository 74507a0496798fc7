# MEDIUM: textwrap (fill/wrap/dedent/indent) + difflib HtmlDiff and get_close_matches on generated prose.
import textwrap, difflib, random
random.seed(12)
vocab = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do",
         "eiusmod", "tempor", "incididunt", "labore", "magna", "aliqua", "enim", "minim", "veniam", "quis"]
paras = [" ".join(random.choice(vocab) for _ in range(random.randint(40, 160))) for _ in range(400)]
wrapped = [textwrap.fill(p, width=random.choice([50, 72, 88])) for p in paras]
doc_a = textwrap.indent("\n\n".join(wrapped), "  ").splitlines()
doc_b = list(doc_a)
for i in range(0, len(doc_b), 9):
    doc_b[i] = doc_b[i].replace("lorem", "LOREM").replace("sit", "sat")
del doc_b[100:130]
html = difflib.HtmlDiff(wrapcolumn=70).make_file(doc_a[:900], doc_b[:900], "a", "b", context=True)
words = " ".join(paras).split()
close = [difflib.get_close_matches(w, vocab + ["loremx", "dolores"], n=2) for w in words[:3000:7]]
short = [textwrap.shorten(p, 60) for p in paras]
print(len(html), len(close), len(short), len(textwrap.dedent("\n".join(doc_b))))
