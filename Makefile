# The two commands: `make run` (set up, index, chat UI on http://127.0.0.1:7860) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: install run index test eval clean

install: $(STAMP)

# torch goes first and pinned: 2.13.0 is the local CPU build, anything else pulls GBs of CUDA.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

run: install
	$(BIN)/python -m bot serve

index: install
	$(BIN)/python -m bot index

eval: install
	$(BIN)/python -m bot eval ../shared/eval/questions.json

test: install
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) index/faiss.index index/chunks.jsonl index/manifest.json .pytest_cache
