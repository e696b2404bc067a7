#!/usr/bin/env python3
"""Doxygen INPUT_FILTER for include/*.h, and the check that nothing public is
undocumented.

    cio-doc-filter.py HEADER            the header as Doxygen should read it (stdout)
    cio-doc-filter.py --check HEADER... lists every public declaration without a
                                        comment; exit status 1 if there is one

The headers keep plain C comments: a /* ... */ block directly above a
declaration (no blank line between) documents it, and only it: each
declaration needs its own. A comment after a declaration on its line
documents that declaration (or a struct member, a macro). A banner

    /* ===================================================================== */
    /* Title                                                                 */
    /* ===================================================================== */

(or a one-line "/* ---- Title ---- */") starts a group: the section of the
reference and of the man pages. A comment that stands alone (a blank line
after it) directly below a banner describes that group.

The output keeps every line where it was (Doxygen's warnings point at the
real header): comments become doc comments in place and the group commands
share lines with them.

Public declarations: CIO_API functions, typedefs, struct and enum
definitions at file scope, and #defines (except the include guard).
"""
import os
import re
import sys

BANNER_RULE = re.compile(r"^/\*\s*={5,}\s*\*/\s*$")
BANNER_TITLE = re.compile(r"^/\*\s*(.*?)\s*\*/\s*$")
DASH_BANNER = re.compile(r"^/\*\s*-{3,}\s*(.*?)\s*-{3,}\s*\*/\s*$")
ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "cf.")


def slug(text):
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def escape(text):
    """Plain comment text -> Doxygen text that shows the same characters."""
    text = re.sub(r"([\\@<>&#%$])", r"\\\1", text)
    # A dot followed by a space ends the brief description (JAVADOC_AUTOBRIEF).
    for abbr in ABBREVIATIONS:
        text = text.replace(abbr + " ", abbr + "\\ ")
    return text


class Header:
    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)
        with open(path, encoding="utf-8") as f:
            self.lines = f.read().split("\n")
        self.out = list(self.lines)
        self.undocumented = []  # (line number, what)
        self.group_prefix = "" if self.name == "cio.h" else slug(self.name[:-2]) + "_"

    # ---- scanning ----

    def comment_end(self, i):
        """Index of the line that closes the comment starting on line i."""
        j = i
        while "*/" not in self.lines[j][self.lines[j].find("/*") + 2 if j == i else 0:]:
            j += 1
        return j

    def decl_end(self, i):
        """Index of the last line of the declaration starting on line i."""
        line = self.lines[i]
        if line.startswith("#"):
            while self.lines[i].rstrip().endswith("\\"):
                i += 1
            return i
        depth = 0
        j = i
        while True:
            code = re.sub(r"/\*.*?\*/", "", self.lines[j])
            code = code.split("/*")[0]
            for ch in code:
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                elif ch == ";" and depth == 0:
                    return j
            j += 1
            if j >= len(self.lines):
                return len(self.lines) - 1

    def decl_kind(self, line):
        """What a file-scope line declares publicly, or None."""
        if line.startswith("CIO_API"):
            return "function"
        if line.startswith("typedef"):
            return "typedef"
        if re.match(r"(struct|enum|union)\b[^;]*\{", line):
            return "struct"
        m = re.match(r"#\s*define\s+(\w+)", line)
        if m:
            name = m.group(1)
            if name.endswith("_H") or name.startswith("_"):
                return None
            return "define"
        return None

    def decl_name(self, i, end):
        text = " ".join(self.lines[i:end + 1])
        text = re.sub(r"/\*.*?\*/", " ", text)
        m = re.match(r"\s*#\s*define\s+(\w+)", text)
        if m:
            return m.group(1)
        m = re.search(r"(\w+)\s*\(", text)
        if text.startswith("CIO_API") and m:
            return m.group(1)
        if text.lstrip().startswith("typedef") and "{" in text:
            return re.search(r"(\w+)\s*;\s*$", text.strip()).group(1)
        m = re.search(r"\(\s*\*\s*(\w+)\s*\)", text)  # function pointer typedef
        if m:
            return m.group(1)
        m = re.search(r"(\w+)\s*;\s*$", text.strip())
        if m and text.lstrip().startswith("typedef"):
            return m.group(1)
        m = re.match(r"\s*(?:struct|enum|union)\s+(\w+)", text)
        if m:
            return m.group(1)
        m = re.search(r"\b(CIO_\w+)", text)  # anonymous enum: its first value
        return m.group(1) if m else "?"

    # ---- rewriting ----

    def doc_comment(self, i, end, marker="/**"):
        """Turns the plain comment on lines i..end into a doc comment in place."""
        code_from = None
        base = None
        for k in range(i, end + 1):
            line = self.out[k]
            if k == i:
                head, _, rest = line.partition("/*")
                body = rest
            else:
                head, body = "", line
            tail = ""
            if k == end:
                body, _, tail = body.rpartition("*/")
                tail = "*/" + tail
            stripped = body.strip()
            indent = len(body) - len(body.lstrip())
            if k > i and stripped and base is None:
                base = indent
            in_code = base is not None and stripped and indent >= base + 4
            if in_code and code_from is None:
                code_from = k
                body = "\\code " + body if k == i else body
                prev = self.out[k - 1]
                if not prev.strip():
                    self.out[k - 1] = "\\code"
                else:
                    body = "\\code\n" + body  # breaks line numbers only here
            elif not in_code and code_from is not None and stripped:
                code_from = None
                if not self.out[k - 1].strip():
                    self.out[k - 1] = "\\endcode"
                else:
                    body = "\\endcode " + escape(body)
                    in_code = True  # already escaped
            if not in_code:
                body = escape(body)
            if k == i:
                line = head + marker + body + tail
            else:
                line = body + tail
            self.out[k] = line
        if code_from is not None:
            self.out[end] = self.out[end].replace("*/", "\\endcode */")

    def trailing(self, k):
        """A comment that follows code on line k documents that code."""
        line = self.out[k]
        m = re.search(r"/\*(?!\*)", line)
        if not m or not line[: m.start()].strip():
            return False
        end = self.comment_end(k) if "*/" not in line[m.start():] else k
        self.doc_comment_at(k, m.start(), end, "/**<")
        return True

    def doc_comment_at(self, k, col, end, marker):
        head = self.out[k][:col]
        self.out[k] = self.out[k][col:]
        self.doc_comment(k, end, marker)
        self.out[k] = head + self.out[k]

    def struct_body(self, i, end):
        """Comments inside a struct or enum document its members."""
        k = i + 1
        while k < end:
            line = self.lines[k]
            if line.lstrip().startswith("/*"):
                e = self.comment_end(k)
                col = line.find("/*")
                self.doc_comment_at(k, col, e, "/**")
                k = e + 1
                continue
            if "/*" in line:
                e = k if "*/" in line[line.find("/*"):] else self.comment_end(k)
                self.trailing(k)
                k = e + 1
                continue
            k += 1
        if "/*" in self.lines[end] and self.lines[end].lstrip().startswith("}"):
            self.trailing(end)

    # ---- the pass ----

    def run(self):
        lines = self.lines
        n = len(lines)
        group_open = False
        pending = None  # (first line, last line) of the comment above
        i = 0
        while i < n:
            line = lines[i]
            stripped = line.strip()
            title = self.banner(i)
            if title:
                prefix = "/** @} */ " if group_open else ""
                gid = self.group_prefix + slug(title.split("(")[0])
                self.out[i] = prefix + "/** \\defgroup %s %s" % (gid, escape(title))
                self.out[i + 1] = ""
                self.out[i + 2] = ""
                group_open = True
                pending = None
                i = self.group_description(i + 3, i + 2)
                continue
            if DASH_BANNER.match(stripped) and not line.startswith(" "):
                t = DASH_BANNER.match(stripped).group(1)
                prefix = "/** @} */ " if group_open else ""
                gid = self.group_prefix + slug(t.split("(")[0])
                self.out[i] = prefix + "/** \\defgroup %s %s */ /** " % (gid, escape(t))
                group_open = True
                pending = None
                i = self.group_description(i + 1, i)
                continue
            if line.startswith("#ifdef __cplusplus") and group_open and i > n // 2:
                self.out[i] = "/** @} */ " + line
                group_open = False
                i += 1
                continue
            if not stripped:
                pending = None
                i += 1
                continue
            if line.startswith("/*"):
                end = self.comment_end(i)
                pending = (i, end)
                i = end + 1
                continue
            kind = self.decl_kind(line)
            if kind is None:
                pending = None
                i += 1
                continue
            end = self.decl_end(i)
            name = self.decl_name(i, end)
            opening_doc = kind in ("struct", "typedef") and "{" in line and "/*" in line
            documented = True
            private = False
            if pending:
                # A struct whose comment calls it opaque or its fields private
                # shows no members.
                text = " ".join(lines[pending[0]:pending[1] + 1]).lower()
                private = "opaque" in text or "fields are private" in text
                self.doc_comment(pending[0], pending[1])
            elif opening_doc:
                col = line.find("/*")
                cend = i if "*/" in line[col:] else self.comment_end(i)
                self.move_opening_comment(i, col, cend)
            elif kind == "function" or not self.has_trailing(i, end):
                documented = False
            if not documented:
                self.undocumented.append((i + 1, name))
            pending = None
            if kind in ("struct", "typedef") and "{" in " ".join(lines[i:end + 1]):
                if private:
                    self.out[i + 1] = "/** @cond PRIVATE */ " + self.out[i + 1]
                    self.out[end] = "/** @endcond */ " + self.out[end]
                else:
                    self.struct_body(i, end)
            elif kind != "function":
                if "/*" in lines[end] and not lines[end].lstrip().startswith("/*"):
                    self.trailing(end)
                elif "/*" in lines[i] and end == i:
                    self.trailing(i)
            i = end + 1
        if group_open:
            self.out.append("/** @} */")
        return "\n".join(self.out)

    def move_opening_comment(self, i, col, cend):
        """`typedef struct x {  /* text */` : the text documents the struct."""
        line = self.lines[i]
        text = line[col + 2:]
        text = text[: text.rfind("*/")] if cend == i else text
        self.out[i] = "/** " + escape(text.strip()) + " */ " + line[:col].rstrip()

    def has_trailing(self, i, end):
        for k in (i, end):
            line = self.lines[k]
            m = line.find("/*")
            if m > 0 and line[:m].strip():
                return True
        return False

    def banner(self, i):
        lines = self.lines
        if i + 2 >= len(lines):
            return None
        if BANNER_RULE.match(lines[i]) and BANNER_RULE.match(lines[i + 2]):
            m = BANNER_TITLE.match(lines[i + 1])
            if m and m.group(1):
                return m.group(1)
        return None

    def group_description(self, i, last):
        """A comment right below a banner, then a blank line, describes the
        group: it joins the \\defgroup block that line `last` ends."""
        lines = self.lines
        while i < len(lines) and not lines[i].strip():
            i += 1
        if i < len(lines) and lines[i].startswith("/*"):
            end = self.comment_end(i)
            nxt = lines[end + 1] if end + 1 < len(lines) else ""
            # Followed by a blank line or by something that is not public
            # (a forward declaration): the comment is the section's.
            if not nxt.strip() or self.decl_kind(nxt) is None and not nxt.startswith("/*"):
                self.doc_comment(i, end)
                self.out[i] = self.out[i].replace("/**", "", 1)
                self.out[end] = self.out[end][: self.out[end].rfind("*/")] + "@{ */"
                return end + 1
        self.out[last] += "@{ */"
        return i


def file_comment(h):
    """The header's opening comment documents the file itself."""
    if h.lines and h.lines[0].startswith("/*"):
        end = h.comment_end(0)
        h.doc_comment(0, end)
        h.out[0] = h.out[0].replace("/**", "/** \\file %s\n" % h.name, 1).replace("\n", " ", 1)
        return end + 1
    return 0


def filtered(path):
    h = Header(path)
    file_comment(h)
    save = h.lines
    # The file comment is not a declaration's: hide it from the pass.
    if save and save[0].startswith("/*"):
        end = h.comment_end(0)
        h.lines = [""] * (end + 1) + save[end + 1:]
    banners = any(h.banner(i) or DASH_BANNER.match(line.strip())
                  for i, line in enumerate(h.lines))
    text = h.run()
    h.lines = save
    if not banners and save and save[0].startswith("/*"):
        # No sections: the whole header is one group, named after its first line.
        end = h.comment_end(0)
        title = re.sub(r"^/\*+\s*", "", save[0]).strip() or h.name
        out = text.split("\n")
        out[end] += " /** \\defgroup %s %s */ /** @{ */" % (slug(h.name[:-2]), escape(title))
        text = "\n".join(out) + "\n/** @} */\n"
    return h, text


def main(argv):
    if len(argv) >= 2 and argv[1] == "--check":
        bad = 0
        for path in argv[2:]:
            h, _ = filtered(path)
            for line, name in h.undocumented:
                print("%s:%d: %s has no documentation comment (a /* ... */ directly above it)"
                      % (path, line, name))
                bad += 1
        if bad:
            print("docs-check: %d undocumented public declaration(s)" % bad)
            return 1
        print("docs-check: every public declaration in %s is documented" % " ".join(argv[2:]))
        return 0
    if len(argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    _, text = filtered(argv[1])
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
