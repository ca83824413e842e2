# LoanScore developer entry points. README.md starts with `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

VENV := Training/.venv
PYTHON := $(VENV)/bin/python
RELEASE_BIN := .build/release/loanscore
DEBUG_BIN := .build/debug/loanscore
DEMO := demo
SAMPLE_APPLICATION := {"Seniority": 1, "Home": "rent", "Time": 60, "Age": 24, "Marital": "single", "Records": "yes", "Job": "partime", "Expenses": 60, "Income": 90, "Assets": 0, "Debt": 500, "Amount": 1500, "Price": 1600}

.PHONY: demo test build venv swift-test python-test clean

## Build everything (release), set up the training tool, train a bundle on the bundled
## credit data, verify it against the training libraries, score real applications.
demo: build venv
	@echo "==> Training the ensemble on Data/credit_data.csv"
	LOANSCORE_BIN=$(RELEASE_BIN) $(VENV)/bin/loanscore-train train --data Data/credit_data.csv \
	    --schema Data/credit_data.schema.json --output $(DEMO)/bundle --force
	@echo "==> Checking the bundle reproduces XGBoost and scikit-learn on its holdout"
	$(RELEASE_BIN) bundle verify $(DEMO)/bundle
	@echo "==> Scoring the $$(($$(wc -l < $(DEMO)/bundle/validation/holdout.csv) - 1)) holdout applications"
	$(RELEASE_BIN) score --bundle $(DEMO)/bundle --input $(DEMO)/bundle/validation/holdout.csv \
	    --output $(DEMO)/decisions.csv --rejects $(DEMO)/rejects.csv
	@echo "==> First decisions ($(DEMO)/decisions.csv)"
	@head -n 9 $(DEMO)/decisions.csv | cut -d, -f1-6 | column -t -s,
	@echo "==> One application, explained"
	$(RELEASE_BIN) predict --bundle $(DEMO)/bundle --application '$(SAMPLE_APPLICATION)'

## Build and run every test: Swift (unit and CLI) and Python (training tool, parity,
## the protocol's reference client against loanscored).
test: swift-test python-test

build:
	swift build -c release

venv: $(VENV)/.installed

$(VENV)/.installed: Training/pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e 'Training[test]'
	touch $@

swift-test:
	swift build --build-tests
	swift test

python-test: venv
	LOANSCORE_BIN=$(DEBUG_BIN) $(VENV)/bin/python -m pytest Training/tests -q
	LOANSCORE_BIN=$(DEBUG_BIN) LOANSCORED_BIN=.build/debug/loanscored $(VENV)/bin/python -m pytest Protocol/tests -q

clean:
	rm -rf .build $(VENV) $(DEMO)
