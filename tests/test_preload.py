"""dashboard/preload.py: the chart libraries' code is requested while a page without charts (the Decks
page, where a talk starts) is idle, by the module URLs Streamlit's own lazy imports use, so the first
presented chart does not wait for it (bench/dashboard.py measures the tours; the browser check is in
tests/test_browser.py, on its server)."""
import re

from dashboard import preload


def test_the_installed_streamlit_has_every_chunk_it_preloads():
    # a Streamlit upgrade that renames a chunk fails here, not silently in the page
    files = preload.chunk_files()
    assert [f.split(".")[0] for f in files] == list(preload.CHUNKS)
    for f in files:
        assert (preload.static_js_dir() / f).is_file()
        assert re.fullmatch(r"[A-Za-z-]+\.[A-Za-z0-9_-]+\.js", f)


def test_the_script_lists_the_files_and_nothing_else_is_substituted():
    s = preload.script()
    assert "FILES" not in s and all(f'"{f}"' in s for f in preload.chunk_files())
    assert s.startswith("<script>") and s.rstrip().endswith("</script>")
