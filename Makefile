# The two commands: `make run` (set up, index, serve the chat page at http://127.0.0.1:7860; open it in a
# browser; `make run PORT=7861` when 7860 is taken) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
PORT   ?= 7860

.PHONY: install extras test-tools axe run index test eval clean

install: $(STAMP) extras

# Debian packages, the one list (.ci/run runs `make test` too). The bot uses two at run time:
# the Ding dictionary (GPL, trans-de-en) for cross-lingual terms and glosses and poppler's
# pdftotext (poppler-utils, GPL) for PDF text; `make install` adds them. The tests make their
# documents with the rest (man pages rendered by groff to text, PDF and HTML, PostScript turned
# into PDF by Ghostscript, HTML printed by Chromium, DOCX and Markdown by pandoc); npm fetches
# axe-core for the accessibility test.
# Installed with apt where we are root; otherwise a test whose tool is missing is skipped
# with one line naming its package, and the bot works without them and says how once.
RUN_DEBS  := trans-de-en poppler-utils
# npm only where no npm is on the PATH: NodeSource's nodejs brings its own and conflicts with Debian's.
TEST_DEBS := $(RUN_DEBS) groff ghostscript pandoc chromium man-db manpages manpages-de bsdextrautils \
             $(if $(shell command -v npm),,npm)
APT_ENV   := DEBIAN_FRONTEND=noninteractive

define apt_install
	@want=""; for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" \
	  || want="$$want $$p"; done; \
	  test -z "$$want" || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && { echo "installing Debian packages:$$want"; \
	       $(APT_ENV) apt-get install -y -q $$want >/dev/null 2>&1 || ($(APT_ENV) apt-get update -q >/dev/null 2>&1 \
	       && $(APT_ENV) apt-get install -y -q $$want >/dev/null 2>&1); }; } \
	  || echo "note: Debian packages not installed (apt-get install$$want)$(2)"
endef

extras:
	$(call apt_install,$(RUN_DEBS),)

test-tools:
	$(call apt_install,$(TEST_DEBS),: tests that need them are skipped)

# torch goes first and pinned: 2.13.0 is the local CPU build, anything else pulls GBs of CUDA.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

run: install
	$(BIN)/python -m bot serve --port $(PORT)

index: install
	$(BIN)/python -m bot index

eval: install
	$(BIN)/python -m bot eval tests/data/dev/questions.json --split held-out --quiet

# axe-core (MPL-2.0) from the npm registry, at the version and checksum in tests/a11y/package-lock.json,
# for the accessibility tests; never committed. Without npm those tests skip and say so.
AXE := tests/a11y/node_modules/axe-core/axe.min.js
axe: $(AXE)
$(AXE): tests/a11y/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix tests/a11y --no-audit --no-fund --silent && touch $@; \
	  else echo "note: npm is missing, so the accessibility tests skip (apt-get install npm)"; fi

test: install test-tools axe
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .eval-cache tests/a11y/node_modules
	find index -mindepth 1 ! -name README.md -delete
