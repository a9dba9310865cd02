# web/ — the admin pages (static files that dpn-mgmtd serves at /) and their
# end-to-end browser test (real mgmtd, PostgreSQL and headless Chromium).
WEB_DIRS  := web web/css web/js web/js/pages
WEB_FILES := $(foreach d,$(WEB_DIRS),$(filter-out %/build.mk,$(wildcard $(d)/*.*)))

CHECKS   += tests/web/test_numbers.mjs tests/web/test_poolmap.mjs tests/web/test_web.py
CHECKS   += tests/web/test_flat_settings.py
CHECKS   += tests/web/test_web_calls.py
INSTALLS += install-web

install-web:
	$(foreach d,$(WEB_DIRS),install -d $(DESTDIR)$(PREFIX)/share/dpn/$(d) &&) true
	$(foreach f,$(WEB_FILES),install -m 0644 $(f) $(DESTDIR)$(PREFIX)/share/dpn/$(f) &&) true

.PHONY: install-web
