"""The harness itself: a page with a console error is seen as one, and an SVG mark is found."""


def test_console_error_is_recorded(page):
    page.set_content("<html><body><svg><circle r='3'></circle></svg><script>console.error('boom')</script></body></html>")
    assert page.locator("svg circle").count() == 1
    assert page.console_errors == ["boom"]
