"""Documents read whole (issue 32, item 10): every style of page reaches its units.

The fixtures are real pages or small snippets of them: zlib's ``zlib_how.html`` (prose
outside ``<p>``, code in ``<pre><b>``; whole in tests/data/pages, as the prose is lost only
from a page that long), a DocBook page (fontconfig's, tags in capitals), systemd's
``DISTRO_PORTING.md`` (a list of options) and scikit-learn's ``iris.rst`` (a field list).
"""

from __future__ import annotations

from pathlib import Path

from index.sources.documents import Document, load_sources

PAGES = Path(__file__).resolve().parents[1] / "data" / "pages"

# From zlib's examples/zlib_how.html (Mark Adler), cut short.
ZLIB_HOW = """<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.0 Transitional//EN"
  "http://www.w3.org/TR/REC-html40/loose.dtd">
<html>
<head>
<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">
<title>zlib Usage Example</title>
</head>
<body bgcolor="#FFFFFF" text="#000000" link="#0000FF" vlink="#00A000">
<h2 align="center"> zlib Usage Example </h2>
We often get questions about how the <tt>deflate()</tt> and <tt>inflate()</tt> functions
should be used.
<p>
Without further adieu, here is the program <a href="zpipe.c"><tt>zpipe.c</tt></a>:
<pre><b>
#include &lt;stdio.h&gt;
#include "zlib.h"
</b></pre><!-- -->
This is an ugly hack required to avoid corruption of the input and output data on
Windows/MS-DOS systems.
<tt>SET_BINARY_MODE()</tt> will be used later on <tt>stdin</tt> and <tt>stdout</tt>.
<pre><b>
#if defined(MSDOS) || defined(OS2) || defined(WIN32) || defined(__CYGWIN__)
#  include &lt;fcntl.h&gt;
#  define SET_BINARY_MODE(file) setmode(fileno(file), O_BINARY)
#else
#  define SET_BINARY_MODE(file)
#endif
</b></pre><!-- -->
<tt>CHUNK</tt> is simply the buffer size for feeding data to and pulling data
from the <em>zlib</em> routines.
<pre><b>
#define CHUNK 16384
</b></pre><!-- -->
The <tt>def()</tt> routine compresses data from an input file to an output file.
</body>
</html>
"""

# From fontconfig's fontconfig-user.html (DocBook), cut short.
DOCBOOK = """<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN">
<HTML
><HEAD
><TITLE
>fonts-conf</TITLE
></HEAD
><BODY
CLASS="REFENTRY"
><H1
><A
NAME="AEN1"
></A
>fonts-conf</H1
><DIV
CLASS="REFNAMEDIV"
><H2
>Name</H2
>fonts.conf&nbsp;--&nbsp;Font configuration files</DIV
><DIV
CLASS="REFSECT1"
><H2
>Functional Overview</H2
><P
>Fontconfig contains two essential modules, the configuration module which
builds an internal configuration from XML files and the matching module
which accepts font patterns and returns the nearest matching font.
  </P
><DIV
CLASS="REFSECT2"
><H3
>Font Configuration</H3
><P
>The configuration module consists of the FcConfig datatype, libexpat and
FcConfigParse which walks over an XML tree and amends a configuration with
data found within.
    </P
></DIV
></DIV
></BODY
></HTML
>
"""

# From systemd's docs/DISTRO_PORTING.md.
PORTING = """# Porting systemd To New Distributions

## HOWTO

You need to make the follow changes to adapt systemd to your distribution:

1. Find the right configure parameters for:

   * `-Drootprefix=`
   * `-Dsysvinit-path=`
   * `-Dsysvrcnd-path=`
   * `-Drc-local=`

2. Try it out.
"""

# From scikit-learn's sklearn/datasets/descr/iris.rst, cut short.
IRIS = """.. _iris_dataset:

Iris plants dataset
--------------------

**Data Set Characteristics:**

:Number of Instances: 150 (50 in each of three classes)
:Number of Attributes: 4 numeric, predictive attributes and the class
:Creator: R.A. Fisher
:Date: July, 1988

The famous Iris database, first used by Sir R.A. Fisher. The dataset is taken
from Fisher's paper.

.. rubric:: Recommendation

This text dataset contains data which may be inappropriate for certain NLP applications.
"""


def _read(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Document:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    (doc,) = load_sources([path])
    return doc


def test_old_html_prose_outside_paragraphs_is_read() -> None:
    (doc,) = load_sources([PAGES / "zlib_how.html"])
    text = " ".join(u.text for u in doc.units)
    for prose in ("We often get questions about how the deflate() and inflate() functions",
                  "This is an ugly hack required to avoid corruption of the input and output",
                  "CHUNK is simply the buffer size for feeding data",
                  "The def() routine compresses data from an input file to an output file.",
                  "Here are the local variables for def()."):
        assert prose in text
    assert doc.title == "zlib Usage Example"


def test_code_lines_are_neither_headings_nor_text(tmp_path: Path) -> None:
    doc = _read(tmp_path, "zlib_how.html", ZLIB_HOW, "latin-1")
    assert {u.section for u in doc.units} == {""}  # the title heading is no section
    assert not [u.text for u in doc.units if "#" in u.text or "**" in u.text
                or "setmode(" in u.text]


def test_headings_in_capitals_make_sections(tmp_path: Path) -> None:
    doc = _read(tmp_path, "fontconfig-user.html", DOCBOOK)
    def section(start: str) -> str:
        (found,) = [u.section for u in doc.units if u.text.startswith(start)]
        return found

    assert section("fonts.conf -- Font configuration files") == "Name"
    assert section("Fontconfig contains two essential modules") == "Functional Overview"
    assert section("The configuration module consists") == \
        "Functional Overview › Font Configuration"
    assert doc.title == "fonts-conf"


def test_list_items_keep_their_option_text(tmp_path: Path) -> None:
    doc = _read(tmp_path, "DISTRO_PORTING.md", PORTING)
    texts = [u.text for u in doc.units]
    assert ("Find the right configure parameters for: -Drootprefix= -Dsysvinit-path= "
            "-Dsysvrcnd-path= -Drc-local=") in texts
    assert not [t for t in texts if "=." in t]


def test_glue_keeps_a_full_stop_between_words_of_prose() -> None:
    from index.sources.documents import join_fragments

    pieces = [("Type: Boolean", 0, "s"), ("Save the package to package.json now.", 1, "s"),
              ("--json", 2, "o"), ("--global", 3, "o"), ("Print the result as JSON.", 4, "o")]
    assert join_fragments(pieces) == [
        ("Type: Boolean. Save the package to package.json now.", 1, "s"),
        ("--json --global Print the result as JSON.", 4, "o"),
    ]


def test_rst_fields_and_rubrics_are_read(tmp_path: Path) -> None:
    doc = _read(tmp_path, "iris.rst", IRIS)
    texts = {u.text: u.section for u in doc.units}
    assert "Number of Instances: 150 (50 in each of three classes)" in texts
    assert any("Date: July, 1988" in t for t in texts)
    assert texts["This text dataset contains data which may be inappropriate for certain "
                 "NLP applications."] == "Recommendation"


def test_text_coverage_of_a_page_is_measured() -> None:
    from scripts.text_coverage import coverage

    reached, total = coverage(PAGES / "zlib_how.html")
    assert total > 3000 and reached / total >= 0.98


def test_page_chrome_and_code_are_left_out_and_tables_read(tmp_path: Path) -> None:
    page = """<html><head><title>Setup</title></head><body class="sidebar-visible">
<div id="sidebar"><a href="/">Home</a> Contents</div><div class="site-nav">Menu</div>
<div hidden>Shown to nobody.</div>
Run the installer before anything else.
<pre>make install</pre>
<table><tr><th>Option</th><th>Meaning</th></tr>
<tr><td>--prefix</td><td>where the files go</td></tr></table>
</body></html>"""
    doc = _read(tmp_path, "setup.html", page)
    assert [u.text for u in doc.units] == [
        "Run the installer before anything else.",
        "Option: --prefix; Meaning: where the files go."]


def test_an_articles_own_header_is_read_the_sites_is_not(tmp_path: Path) -> None:
    page = """<html><head><title>Moon facts | Example News</title></head><body>
<header><a href="/">Example News</a> Subscribe now</header>
<article><header><h1>Moon facts</h1><p>By A. Writer</p></header>
<p>Apollo 11 landed on the Moon on July 20, 1969.</p></article></body></html>"""
    doc = _read(tmp_path, "moon.html", page)
    assert doc.title == "Moon facts"
    assert [u.text for u in doc.units] == ["By A. Writer",
                                           "Apollo 11 landed on the Moon on July 20, 1969."]
