"""The public web page: a map of the kits, a page per kit, a data page (Dutch and English).

The pages are shells rendered in the reader's language; their data come from the public API
(``/v1/...``) in the browser, so what a page shows is what anyone can download::

    app.include_router(lokaalmeten.server.web.router.router)
"""
