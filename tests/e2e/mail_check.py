#!/usr/bin/python3
"""tests/e2e/mail_check.py - reads the messages smtp_sink.py wrote, for
mail.sh. Subcommands (DIR is the sink's directory):

  list DIR                 one JSON object per message: file, rcpt, to, subject
                           (decoded), kind, lang, message_id, links, body
  check DIR ORIGIN RULES   the privacy and form checks; RULES is a JSON file
                           {"forbidden": [strings never in any message],
                            "not_for": {address: [strings never in its mail]},
                            "lang": {address: "en"|"pl"}}; prints each
                           violation, exits 1 if there is any
"""
import email
import email.header
import email.policy
import json
import os
import re
import sys


def messages(directory):
    for name in sorted(os.listdir(directory)):
        if name.startswith(".") or not name.endswith(".eml"):
            continue
        with open(os.path.join(directory, name), "rb") as f:
            raw = f.read()
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        subject = str(msg.get("Subject", ""))
        yield {
            "file": name,
            "rcpt": msg.get("X-Sink-Rcpt", ""),
            "to": str(msg.get("To", "")),
            "from": str(msg.get("From", "")),
            "subject": subject,
            "kind": msg.get("X-Ementor-Kind", ""),
            "lang": msg.get("Content-Language", ""),
            "message_id": msg.get("Message-ID", ""),
            "unsubscribe": msg.get("List-Unsubscribe", ""),
            "unsubscribe_post": msg.get("List-Unsubscribe-Post", ""),
            "date": msg.get("Date", ""),
            "links": re.findall(r"https?://\S+", text),
            "body": text,
            "raw": raw.decode("utf-8", "replace"),
        }


def check(directory, origin, rules):
    bad = []
    forbidden = rules.get("forbidden", [])
    not_for = rules.get("not_for", {})
    langs = rules.get("lang", {})
    polish = re.compile(r"[ąćęłńóśźżĄĆĘŁŃÓŚŹŻ]")
    for m in messages(directory):
        where = "%s (%s to %s)" % (m["file"], m["kind"], m["rcpt"])
        # what a reader sees: decoded subject and body; and the raw bytes too
        seen = m["subject"] + "\n" + m["body"] + "\n" + m["raw"]
        for s in forbidden:
            if s.lower() in seen.lower():
                bad.append("%s: holds forbidden %r" % (where, s))
        for s in not_for.get(m["rcpt"], []):
            if s.lower() in (m["subject"] + "\n" + m["body"]).lower():
                bad.append("%s: holds %r, which its recipient does not see" % (where, s))
        for h in ("message_id", "date", "from", "to", "kind", "lang"):
            if not m[h]:
                bad.append("%s: no %s header" % (where, h))
        if not m["links"]:
            bad.append("%s: no link" % where)
        for link in m["links"]:
            if not link.startswith(origin + "/"):
                bad.append("%s: link %s is not under %s" % (where, link, origin))
        want = langs.get(m["rcpt"])
        if want and m["lang"] != want:
            bad.append("%s: language %s, wanted %s" % (where, m["lang"], want))
        if want == "pl" and not polish.search(m["subject"] + m["body"]):
            bad.append("%s: Polish declared, no Polish letters" % where)
        if want == "en" and polish.search(m["subject"] + m["body"]):
            bad.append("%s: English declared, Polish letters found" % where)
        if m["kind"] not in ("verify", "invite", "reset") and not m["unsubscribe"]:
            bad.append("%s: no List-Unsubscribe" % where)
        if m["unsubscribe"] and m["unsubscribe_post"] != "List-Unsubscribe=One-Click":
            bad.append("%s: List-Unsubscribe without RFC 8058's List-Unsubscribe-Post" % where)
    for b in bad:
        print(b)
    return 1 if bad else 0


def main():
    cmd, directory = sys.argv[1], sys.argv[2]
    if cmd == "list":
        for m in messages(directory):
            m = dict(m)
            del m["raw"]
            print(json.dumps(m, ensure_ascii=False))
        return 0
    if cmd == "check":
        with open(sys.argv[4]) as f:
            return check(directory, sys.argv[3], json.load(f))
    return 2


if __name__ == "__main__":
    sys.exit(main())
