# TINY: xml.etree.ElementTree build, serialize, parse back, XPath-ish find/iter, iterparse, minor edits.
import xml.etree.ElementTree as ET, io, random
random.seed(21)
root = ET.Element("catalog", version="1")
for i in range(40):
    b = ET.SubElement(root, "book", id=f"bk{i}", lang=random.choice(["en", "fr", "de"]))
    ET.SubElement(b, "title").text = " ".join(random.choice(["red", "sea", "old", "map", "tale"]) for _ in range(4))
    ET.SubElement(b, "price").text = "%.2f" % random.uniform(3, 90)
    for t in range(i % 4):
        ET.SubElement(b, "tag", n=str(t)).text = "t%d" % (i * t)
data = ET.tostring(root, encoding="unicode")
tree = ET.fromstring(data)
cheap = [b.get("id") for b in tree.iterfind("book") if float(b.findtext("price")) < 20]
for b in tree.iter("book"):
    if b.get("lang") == "fr":
        b.set("lang", "fr-FR"); b.find("title").text = b.find("title").text.upper()
out = io.BytesIO(); ET.ElementTree(tree).write(out, encoding="utf-8", xml_declaration=True)
n = sum(1 for ev, el in ET.iterparse(io.BytesIO(out.getvalue()), events=("start", "end")))
print(len(data), len(cheap), len(out.getvalue()), n)
