# Two commands for a fresh machine:
#   make demo   set up .venv and answer "How long did the meeting last?" from the built-in article
#   make test   set up .venv (with the dev tools) and run ruff, mypy and the whole test suite
#   make bench  run the benchmarks at full size (docs/performance.md)
#   make bench-milvus  FAISS against Milvus (milvus-lite) at 10k and 100k units (docs/scaling.md)
#   make reranker  train, calibrate and ship qabot's own reranker (about 52 min on 2 idle cores)
#   make reranker-large  continue it on ../shared/data/qa-train-large in validated chunks
#   make reranker-span  continue it with a span head: the phrase that answers (about 60 min)
#   make ship-large CHUNK=4  ship a chunk, export it and refit the verdicts for it
#   make onnx   re-export the bundled encoder and reranker to ONNX (about 30 s)
#   make wheel  build dist/qabot-*.whl (with the models: about 180 MB, 25 s)
#   make requirements  re-pin requirements.txt (the slim Heroku lock) and requirements-full.txt
#   make slug   measure the slim deploy's compressed slug as Heroku counts it (about 4 min)
PYTHON ?= python3
VENV ?= .venv
# torch 2.13.0 is a CPU build on this machine's package mirror; see the README for elsewhere.
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
QUESTION ?= How long did the meeting last?

.PHONY: demo repl test lint bench bench-milvus venv dev clean reranker reranker-large reranker-span ship-large onnx \
	wheel requirements slug slug-full

# pip says what it fetches and installs (torch alone is ~190 MB): no --quiet, so a first
# `make demo` shows its progress instead of a silent minute.
$(VENV)/.runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@echo "qabot: installing torch ($(TORCH_SPEC)), then qabot and its dependencies..."
	$(BIN)/pip install --progress-bar on $(TORCH_SPEC)
	$(BIN)/pip install --progress-bar on -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	@echo "qabot: installing the dev tools (pytest, ruff, mypy, dpytest)..."
	$(BIN)/pip install --progress-bar on -e ".[dev]"
	touch $@

venv: $(VENV)/.runtime
dev: $(VENV)/.dev

demo: venv
	$(BIN)/qabot ask "$(QUESTION)"

repl: venv
	$(BIN)/qabot repl

lint: dev
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q

# The full benchmark (about 10 minutes on 2 cores; docs/performance.md). CI runs only the
# smoke size, through tests/benchmarks.
bench: dev
	$(BIN)/python -m benchmarks.run

# FAISS against Milvus (milvus-lite, from the dev extra): stores, engine and eval on both
# (docs/scaling.md; about 15-25 minutes on 2 cores).
bench-milvus: dev
	$(BIN)/python -m benchmarks.milvus

$(VENV)/.train: $(VENV)/.dev
	$(BIN)/pip install --progress-bar on -e ".[dev,train]"
	touch $@

# Reproducible from ../shared/data/qa-train (seeded); writes build/reranker, then ships it
# into index/models/reranker with its sha256 pinned in index/modelling/reranker.py.
reranker: $(VENV)/.train
	$(BIN)/python -m training.reranker --negatives 2 --seed 13 --lr 5e-5 --out build/reranker-e1
	$(BIN)/python -m training.reranker --negatives 2 --seed 14 --lr 3e-5 \
		--init build/reranker-e1 --out build/reranker-e2
	$(BIN)/python -m training.reranker --negatives 1 --cross 1 --seed 15 --lr 3e-5 \
		--init build/reranker-e2 --out build/reranker
	$(BIN)/python -m training.calibrate --reranker build/reranker --removed \
		--criterion balanced --out build/reranker/calibration.json
	$(BIN)/python -m training.calibrate --reranker none --removed --criterion balanced \
		--out index/models/first-stage.json
	$(BIN)/python -m training.ship build/reranker
	$(BIN)/python -m training.export --what reranker

# The ONNX exports of the bundled encoder and reranker that answer without torch, made from
# the torch models, checked against them, and pinned by sha256 (training/export.py).
onnx: $(VENV)/.train
	$(BIN)/python -m training.export

# The wheel qabot installs from: bot, index (with its models and data) and config, nothing
# else (tests/test_packaging.py checks the list without building).
wheel: venv
	$(BIN)/pip wheel --no-deps -w dist .

# requirements.txt, the slim lock the Procfile's host reads (no torch: the bundled models on
# ONNX Runtime), and requirements-full.txt (torch as +cpu), pinned from what the venv runs.
requirements: venv
	$(BIN)/python scripts/lock.py

# The compressed slug (app less .slugignore + a clean venv of the requirements + the Python
# runtime) as Heroku counts it against its 500 MB (docs/deploy.md); fails above the limit.
slug: venv
	$(BIN)/python scripts/slug_size.py

# The same for requirements-full.txt (torch from pip's own index or wheel folder).
slug-full: venv
	$(BIN)/python scripts/slug_size.py --requirements requirements-full.txt --local-torch

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info dist

# The reranker on the large data (../shared/data/qa-train-large), continued from make
# reranker's (build/reranker: round 7's, trained on qa-train) in chunks of its fixed question
# order, each validated (training/large.py, training/validate.py); about 20-25 min for
# 10,000 questions on 2 idle cores (chunk 3: 25,000 in 1,887 s). A chunk is
# NAME:INDEX:SIZE:SEED (questions INDEX*SIZE to (INDEX+1)*SIZE); each continues from the one
# before. The shipped one (chunk 4, all 58,050 questions) is the five below: chunk 2a was
# round 8's, chunks 3 and 4 round 9's. Ship a chunk only if it wins on validation
# (make ship-large CHUNK=NAME).
LARGE := build/large
LARGE_INIT ?= build/reranker
CHUNKS ?= 0:0:10000:40 1:1:10000:41 2a:4:5000:42 3:1:25000:43 4:5:10000:44
reranker-large: $(VENV)/.train
	test -f $(LARGE)/meta.json || $(BIN)/python -m training.large --out $(LARGE) \
		--cap squad10-train=42000
	test -f $(LARGE)/valid-shipped.json || $(BIN)/python -m training.validate \
		--questions $(LARGE) --reranker index/models/reranker --out $(LARGE)/valid-shipped.json
	test -f $(LARGE_INIT)/card.json || { echo "reranker-large: chunk 0 continues from \
		$(LARGE_INIT) (make reranker's result); run make reranker first"; exit 1; }
	prev=$(LARGE_INIT); for spec in $(CHUNKS); do \
		set -- $$(echo "$$spec" | tr : ' '); name=$$1; k=$$2; size=$$3; seed=$$4; \
		test -f $(LARGE)/chunk-$$name/card.json || $(BIN)/python -m training.reranker \
			--large $(LARGE) --chunk $$k --chunk-size $$size --seed $$seed --lr 2e-5 \
			--init $$prev --out $(LARGE)/chunk-$$name || exit 1; \
		test -f $(LARGE)/chunk-$$name/valid.json || $(BIN)/python -m training.validate \
			--questions $(LARGE) --reranker $(LARGE)/chunk-$$name \
			--out $(LARGE)/chunk-$$name/valid.json || exit 1; \
		prev=$(LARGE)/chunk-$$name; \
	done

# The reranker with a span head (issue 30; training/span.py): chunk 4 continued on the
# 16,000 SQuAD 1.0 questions the chunks left out and a second reading of the varied sets,
# its ranking loss joined by the phrase's; validated for ranking and for phrases (about
# 60 min on 2 idle cores). Ship it with make ship-large CHUNK=span.
SPAN_INIT ?= $(LARGE)/chunk-4
reranker-span: $(VENV)/.train
	test -f $(LARGE)/chunk-span/card.json || $(BIN)/python -m training.span --large $(LARGE) \
		--init $(SPAN_INIT) --out $(LARGE)/chunk-span --squad-rest 16000 --seed 47
	test -f $(LARGE)/chunk-span/valid.json || $(BIN)/python -m training.validate \
		--questions $(LARGE) --reranker $(LARGE)/chunk-span --out $(LARGE)/chunk-span/valid.json
	test -f $(LARGE)/chunk-span/span-valid.json || $(BIN)/python -m training.span_eval \
		--questions $(LARGE) --model $(LARGE)/chunk-span --out $(LARGE)/chunk-span/span-valid.json

# Ship chunk CHUNK of reranker-large: the weights (pinned), their ONNX export, then the
# verdicts refitted for it on every spent question set (training/rows.py, training/verdicts.py:
# rows read the raw signals, so the old calibration only stands in until the refit).
CHUNK ?= 4
ship-large: $(VENV)/.train
	test -f $(LARGE)/chunk-$(CHUNK)/calibration.json || \
		cp index/models/reranker/calibration.json $(LARGE)/chunk-$(CHUNK)/calibration.json
	$(BIN)/python -m training.ship $(LARGE)/chunk-$(CHUNK)
	$(BIN)/python -m training.export --what reranker
	$(BIN)/python -m training.rows --out $(LARGE)/rows.json
	$(BIN)/python -m training.verdicts --rows $(LARGE)/rows.json --worst \
		--out $(LARGE)/chunk-$(CHUNK)/calibration.json > $(LARGE)/verdicts.json
	$(BIN)/python -m training.ship $(LARGE)/chunk-$(CHUNK)
