# SMALL: build and parse a few MIME messages with the email package (policy.default).
import email, email.policy
from email.message import EmailMessage
msgs = []
for i in range(12):
    m = EmailMessage()
    m["From"] = "Sender %d <s%d@example.org>" % (i, i)
    m["To"] = ", ".join("r%d@example.com" % j for j in range(i % 4 + 1))
    m["Subject"] = "Report n\u00b0%d \u2014 r\u00e9sum\u00e9" % i
    m.set_content("Hello,\n\n" + "This is line %d of the body.\n" * 20 % tuple(range(20)))
    m.add_alternative("<html><body><p>%s</p></body></html>" % ("para " * 50), subtype="html")
    m.add_attachment(bytes(range(256)) * 4, maintype="application", subtype="octet-stream", filename="d%d.bin" % i)
    msgs.append(m.as_bytes())
n = 0
for raw in msgs:
    m = email.message_from_bytes(raw, policy=email.policy.default)
    body = m.get_body(preferencelist=("plain",))
    n += len(body.get_content()) + sum(len(a.get_content()) for a in m.iter_attachments())
    n += len(str(m["Subject"])) + len(m["To"].addresses)
print(len(msgs), n)
