#!/usr/bin/env python3
"""Man pages (section 3) from Doxygen's XML output of include/*.h.

    cio-man.py XML_DIR INCLUDE_DIR OUT_DIR VERSION

Writes OUT_DIR/man3/<name>.3 for every documented function, type, struct,
enum and macro, one page per header section (cio-<section>.3) and cio.3 (the
conventions and the list of sections). A page's SYNOPSIS is the declaration
as the header spells it; RETURN VALUE holds the sentences of the comment that
say what comes back; ERRORS lists every error code the comment names (and
-EPERM for calls made "in a task", as the conventions say).
"""
import errno
import os
import re
import sys
import time
import xml.etree.ElementTree as ET

PKG = {"cio.h": "cio"}  # header -> pkg-config name; others: cio_x.h -> cio-x


def pkg_name(header):
    return PKG.get(header, header[:-2].replace("_", "-"))


def roff(text):
    """Plain text -> roff text (no requests)."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    lines = []
    for line in text.split("\n"):
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def code_text(e):
    """Text of a code line; Doxygen writes each space as <sp/>."""
    parts = [e.text or ""]
    for c in e:
        parts.append(" " if c.tag == "sp" else code_text(c))
        parts.append(c.tail or "")
    return "".join(parts)


def inline(el):
    """Text of a description element, with lists and code blocks kept."""
    out = []

    def walk(e):
        tag = e.tag
        if tag == "itemizedlist":
            for item in e.findall("listitem"):
                out.append("\n\x01ITEM ")
                for c in item:
                    walk(c)
            out.append("\n\x01END\n")
            if e.tail:
                out.append(e.tail)
            return
        if tag in ("programlisting", "verbatim"):
            code = []
            for line in e.iter("codeline"):
                code.append(code_text(line))
            if tag == "verbatim":
                code = (e.text or "").split("\n")
            out.append("\n\x01CODE\n" + "\n".join(code).strip("\n") + "\n\x01END\n")
            if e.tail:
                out.append(e.tail)
            return
        if tag == "sp":
            out.append(" ")
        if e.text:
            out.append(e.text)
        for c in e:
            walk(c)
        if tag == "para":
            out.append("\n\n")
        if e.tail:
            out.append(e.tail)

    if el is not None:
        out.append(el.text or "")
        for c in el:
            walk(c)
    return "".join(out)


def paragraphs(text):
    """Description text -> roff paragraphs."""
    res = []
    for block in re.split(r"\n\s*\n", text):
        block = block.strip()
        if not block:
            continue
        for part in re.split(r"(\x01CODE\n.*?\n\x01END)", block, flags=re.S):
            if part.startswith("\x01CODE"):
                code = part[len("\x01CODE\n"):-len("\n\x01END")]
                res.append(".PP\n.in +4n\n.EX\n" + roff(code) + "\n.EE\n.in")
                continue
            items = part.split("\x01ITEM ")
            head = re.sub(r"\s+", " ", items[0].replace("\x01END", "")).strip()
            if head:
                res.append(".PP\n" + roff(head))
            for it in items[1:]:
                it = re.sub(r"\s+", " ", it.replace("\x01END", "")).strip()
                res.append(".IP \\(bu 3\n" + roff(it))
    return "\n".join(res)


def plain(text):
    text = re.sub(r"\x01(CODE|ITEM|END) ?", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def sentences(text):
    text = plain(text)
    protected = re.sub(r"\b(e\.g|i\.e|etc|vs|cf)\.", lambda m: m.group(1) + "\x02", text)
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9*\-\"(])", protected)
    return [p.replace("\x02", ".") for p in parts if p.strip()]


RETURN_WORDS = re.compile(
    r"\breturn(s|ed)?\b|\bNULL\b|^-?E[A-Z]+|^0\b|^1\b|^-[A-Z]|\bCIO_E[A-Z]+|\berrno\b|"
    r"\bgets\b|^(True|False|Whether)\b", re.I)


class Reference:
    def __init__(self, xml_dir, include_dir):
        self.xml_dir = xml_dir
        self.include_dir = include_dir
        self.headers = {}
        self.cio_codes = {}  # CIO_EX -> its description
        self.groups = []  # (order, id, title, header, description, members)

    def header_lines(self, name):
        if name not in self.headers:
            with open(os.path.join(self.include_dir, name), encoding="utf-8") as f:
                self.headers[name] = f.read().split("\n")
        return self.headers[name]

    def declaration(self, loc):
        """The declaration at a <location>, as the header spells it."""
        lines = self.header_lines(os.path.basename(loc.get("file")))
        start = int(loc.get("bodystart") or loc.get("line")) - 1
        end = int(loc.get("bodyend") or -1)
        if end > 0 and end - 1 >= start:
            decl = lines[start:end]
        else:
            decl = [lines[start]]
            depth = 0
            k = start
            while True:
                code = re.sub(r"/\*.*?\*/", "", lines[k])
                depth += code.count("(") - code.count(")")
                if lines[k].startswith("#"):
                    if not lines[k].rstrip().endswith("\\"):
                        break
                elif ";" in code and depth <= 0:
                    break
                k += 1
                decl.append(lines[k])
        decl = [re.sub(r"^CIO_API ", "", d) for d in decl]
        return "\n".join(decl)

    def load(self):
        index = ET.parse(os.path.join(self.xml_dir, "index.xml")).getroot()
        for comp in index.findall("compound"):
            if comp.get("kind") == "group":
                self.load_group(comp.get("refid"))
        self.groups.sort()

    def load_group(self, refid):
        root = ET.parse(os.path.join(self.xml_dir, refid + ".xml")).getroot()
        cd = root.find("compounddef")
        members = []
        for md in cd.iter("memberdef"):
            members.append(self.member(md))
        for ic in cd.findall("innerclass"):
            members.append(self.struct(ic.get("refid")))
        members = [m for m in members if m]
        if not members:
            return
        header = members[0]["header"]
        order = (header != "cio.h", header, min(m["line"] for m in members))
        members.sort(key=lambda m: m["line"])
        desc = inline(cd.find("briefdescription")) + "\n\n" + inline(cd.find("detaileddescription"))
        self.groups.append((order, cd.findtext("compoundname"), cd.findtext("title"), header,
                            desc, members))

    def member(self, md):
        kind = md.get("kind")
        loc = md.find("location")
        brief = inline(md.find("briefdescription"))
        detail = inline(md.find("detaileddescription"))
        name = md.findtext("name")
        names = [name]
        if kind == "enum":
            values = [v.findtext("name") for v in md.findall("enumvalue")]
            if name.startswith("@"):
                name = values[0]
                names = values
            else:
                names = [name] + values
        if kind == "define" and re.match(r"CIO_E[A-Z]+$", name) and name != "CIO_EBASE":
            self.cio_codes[name] = plain(brief)
        return {
            "kind": kind, "name": name, "names": names, "brief": brief, "detail": detail,
            "header": os.path.basename(loc.get("file")), "line": int(loc.get("line")),
            "decl": self.declaration(loc), "type": plain(inline(md.find("type"))),
        }

    def struct(self, refid):
        cd = ET.parse(os.path.join(self.xml_dir, refid + ".xml")).getroot().find("compounddef")
        loc = cd.find("location")
        name = cd.findtext("compoundname")
        decl = self.declaration(loc)
        lines = self.header_lines(os.path.basename(loc.get("file")))
        # A typedef'd struct: from the typedef line on.
        k = int(loc.get("bodystart")) - 1
        if not lines[k].lstrip().startswith(("typedef", "struct")) and k > 0:
            decl = lines[k - 1] + "\n" + decl
        return {
            "kind": "struct", "name": name, "names": [name],
            "brief": inline(cd.find("briefdescription")),
            "detail": inline(cd.find("detaileddescription")),
            "header": os.path.basename(loc.get("file")), "line": int(loc.get("line")),
            "decl": decl, "type": "",
        }


def error_codes(m, cio_codes):
    text = plain(m["brief"] + " " + m["detail"])
    found = []
    if re.match(r"In a task\b", plain(m["brief"])):
        found.append("EPERM")
    for tok in re.findall(r"\b(CIO_E[A-Z]+|E[A-Z0-9]{2,})\b", text):
        if tok == "CIO_EBASE":
            continue
        if tok.startswith("CIO_E") and tok not in cio_codes:
            continue
        if not tok.startswith("CIO_") and not hasattr(errno, tok):
            continue
        if tok not in found:
            found.append(tok)
    return found


def error_meaning(code, cio_codes):
    if code.startswith("CIO_E"):
        return cio_codes[code]
    return os.strerror(getattr(errno, code))


def return_value(m):
    if m["kind"] != "function":
        return None
    picked = [s for s in sentences(m["brief"] + "\n\n" + m["detail"]) if RETURN_WORDS.search(s)]
    if picked:
        return roff(" ".join(picked))
    rtype = m["type"].strip()
    if rtype == "void":
        return "None."
    if rtype == "bool":
        return "True or false, as described above."
    return ("As described above; where it says nothing else, the conventions of\n"
            ".BR cio (3)\napply: 0 or a non-negative value on success, a negative errno on failure.")


def th(name, title, version, date):
    return '.TH "%s" 3 "%s" "cio %s" "%s"\n' % (name, date, version, title)


def member_page(ref, group, m, version, date):
    gid, title, header = group[1], group[2], group[3]
    out = [th(m["name"], "cio Library Functions", version, date)]
    out.append(".SH NAME\n%s \\- %s\n" % (", ".join(m["names"]),
                                          roff(plain(m["brief"]).rstrip(".")) or title))
    out.append(".SH LIBRARY\n%s (\\fIpkg\\-config \\-\\-libs %s\\fP)\n"
               % ("cio, asyncio for C" if header == "cio.h" else roff(pkg_name(header)),
                  roff(pkg_name(header))))
    out.append(".SH SYNOPSIS\n.nf\n.B #include <%s>\n.PP\n%s\n.fi\n" % (header, roff(m["decl"])))
    desc = paragraphs(m["brief"] + "\n\n" + m["detail"])
    out.append(".SH DESCRIPTION\n%s\n" % desc)
    if plain(group[4]):
        out.append(".PP\nCommon to the section \\(lq%s\\(rq:\n%s\n"
                   % (roff(title), paragraphs(group[4]).replace(".PP\n", "", 1)))
    rv = return_value(m)
    if rv is not None:
        out.append(".SH RETURN VALUE\n%s\n" % rv)
    if m["kind"] == "function":
        codes = error_codes(m, ref.cio_codes)
        if m["type"].strip() in ("int", "ssize_t"):  # the section's codes apply
            for c in error_codes({"brief": "", "detail": group[4]}, ref.cio_codes):
                if c not in codes:
                    codes.append(c)
        out.append(".SH ERRORS\n")
        if codes:
            for c in codes:
                neg = "" if c.startswith("CIO_") else "\\-"
                out.append(".TP\n.B %s%s\n%s\n" % (neg, c, roff(error_meaning(c, ref.cio_codes))))
            if "EPERM" in codes and re.match(r"In a task\b", plain(m["brief"])):
                out.append(".PP\n\\-EPERM: called outside a task (see\n.BR cio (3)).\n")
        else:
            out.append("None named; see DESCRIPTION.\n")
    same = [x["name"] for x in group[5] if x is not m]
    prefix = common_family(m["name"], same)
    see = ["cio (3)", "%s (3)" % group_page_name(gid)] + ["%s (3)" % s for s in prefix][:10]
    out.append(".SH SEE ALSO\n" + ",\n".join(".BR " + s for s in see) + "\n")
    return "".join(out)


def common_family(name, others):
    """The members that share the longest name prefix with name."""
    words = name.split("_")
    for n in range(len(words) - 1, 1, -1):
        stem = "_".join(words[:n]) + "_"
        fam = [o for o in others if o.startswith(stem)]
        if fam:
            return fam
    return others[:6]


def group_page_name(gid):
    return "cio-" + gid.replace("_", "-") if not gid.startswith("cio") else gid.replace("_", "-")


def group_page(group, version, date):
    _, gid, title, header, desc, members = group
    name = group_page_name(gid)
    out = [th(name, "cio Library Functions", version, date)]
    out.append(".SH NAME\n%s \\- %s\n" % (name, roff(title)))
    out.append(".SH SYNOPSIS\n.nf\n.B #include <%s>\n.fi\n" % header)
    out.append(".SH DESCRIPTION\n")
    if desc.strip():
        out.append(paragraphs(desc) + "\n")
    out.append(".PP\nThe section \\(lq%s\\(rq of\n.IR %s :\n" % (roff(title), header))
    for m in members:
        out.append(".TP\n.BR %s (3)\n%s\n" % (m["name"], roff(plain(m["brief"]))))
    out.append(".SH SEE ALSO\n.BR cio (3)\n")
    return "".join(out)


def index_page(ref, version, date):
    lines = ref.header_lines("cio.h")
    end = next(i for i, line in enumerate(lines) if "*/" in line)
    text = "\n".join(re.sub(r"^\s?\*? ?", "", line) for line in lines[1:end])
    first, _, rest = text.strip().partition("\n\n")
    out = [th("cio", "cio Library Functions", version, date)]
    out.append(".SH NAME\ncio \\- %s\n" % roff(first.strip().replace("cio — ", "").rstrip(".")))
    out.append(".SH SYNOPSIS\n.nf\n.B #include <cio.h>\n.PP\n"
               "cc ... $(pkg-config \\-\\-cflags \\-\\-libs cio)\n.fi\n")
    body = []
    for block in rest.split("\n\n"):
        if re.search(r"^\s*- ", block, re.M):
            head, *items = re.split(r"\n?\s*- ", block)
            body.append(".PP\n" + roff(" ".join(head.split())))
            for it in items:
                body.append(".IP \\(bu 3\n" + roff(" ".join(it.split())))
        else:
            body.append(".PP\n" + roff(" ".join(block.split())))
    out.append(".SH DESCRIPTION\n" + "\n".join(body) + "\n")
    out.append(".SH SECTIONS\n")
    for g in ref.groups:
        out.append(".TP\n.BR %s (3)\n%s (%s)\n" % (group_page_name(g[1]), roff(g[2]), g[3]))
    out.append(".SH SEE ALSO\nThe HTML reference (share/doc/cio/html) and the guide (docs/guide.md).\n")
    return "".join(out)


def main(argv):
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    xml_dir, include_dir, out_dir, version = argv[1:]
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", time.time()))
    date = time.strftime("%Y-%m-%d", time.gmtime(epoch))
    ref = Reference(xml_dir, include_dir)
    ref.load()
    man3 = os.path.join(out_dir, "man3")
    os.makedirs(man3, exist_ok=True)
    pages = {}
    for g in ref.groups:
        pages[group_page_name(g[1])] = group_page(g, version, date)
        for m in g[5]:
            page = member_page(ref, g, m, version, date)
            pages[m["name"]] = page
            for alias in m["names"][1:]:  # the values of an enum: the same page
                pages.setdefault(alias, page.replace(th(m["name"], "cio Library Functions",
                                                        version, date),
                                                     th(alias, "cio Library Functions",
                                                        version, date), 1))
    pages["cio"] = index_page(ref, version, date)
    for name, text in pages.items():
        with open(os.path.join(man3, name + ".3"), "w", encoding="utf-8") as f:
            f.write(text)
    print("cio-man: %d pages in %s" % (len(pages), man3))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
