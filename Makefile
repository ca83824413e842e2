# LoanScore developer entry points. README.md starts with `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

VENV := Training/.venv
PYTHON := $(VENV)/bin/python
CLIENT_VENV := clients/python/.venv
DEBUG_BIN := $(CURDIR)/.build/debug/loanscore

.PHONY: demo test build venv client-venv wheel swift-test python-test stream-test fuzz-smoke c-abi-asan clean system-packages system-packages-demo

## Build everything (release), set up the training tool, train a bundle on the bundled
## credit data, verify it, start loanscored over TLS, score real applications through it.
demo: system-packages-demo
	$(MAKE) build venv
	scripts/demo.sh

## Build and run every test: Swift (unit and CLI) and Python (training tool, parity,
## the protocol's reference client against loanscored).
test: system-packages
	$(MAKE) swift-test python-test

## System packages (liblz4-dev, libssl-dev, …): installed with apt-get as root or with
## passwordless sudo, or the one command to run is printed, before anything is built.
system-packages:
	scripts/install-system-packages.sh test

system-packages-demo:
	scripts/install-system-packages.sh demo

build:
	swift build -c release

venv: $(VENV)/.installed

$(VENV)/.installed: Training/pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e 'Training[test]'
	touch $@

## The Python package (clients/python) with its Spark and test extras, in its own environment.
client-venv: $(CLIENT_VENV)/.installed

$(CLIENT_VENV)/.installed: clients/python/pyproject.toml
	python3 -m venv $(CLIENT_VENV)
	$(CLIENT_VENV)/bin/pip install --quiet --disable-pip-version-check -e 'clients/python[spark,test]'
	touch $@

## The Python package's platform wheel, holding libloanscore.so (the C ABI with the Swift runtime
## linked in statically): a release build of the LoanScoreC product only, then dist/*.whl.
wheel: client-venv
	scripts/build-wheel.sh release dist

## Suites that start loanscored, openssl or the CLI as processes, or drive a server at full load. They run one at a
## time after the others: on two cores, run beside the rest, they starve the cooperative
## threads of unrelated tests (whose deadlines then expire) and measure each other's noise.
SYSTEM_SUITES := OverloadTests|MetricsTableTests|LogFormatProcessTests|QuotaTests|DeadlineTests|ReloadCoalescingTests|ReloadTests|DaemonProcessTests|CrashSafetyTests|AuditOperationsTests|AdminHardeningTests|BuildInfoTests|ExitCodeTests|HelpAndVersionTests|ProgressTests|PolicyHandshakeTests|TLSPolicyServerTests|TLSPolicyClientTests|BundleGovernanceCLITests|DriftCLITests|ChallengerTests|AuditCompareCLITests|SchemaChangeUnderLoadTests|BackoffTests

swift-test:
	swift build --build-tests
	swift test --skip-build --skip '$(SYSTEM_SUITES)'
	swift test --skip-build --filter '$(SYSTEM_SUITES)' --no-parallel

python-test: venv client-venv
	LOANSCORE_BIN=$(DEBUG_BIN) LOANSCORED_BIN=$(CURDIR)/.build/debug/loanscored $(VENV)/bin/python -m pytest Training/tests -q
	LOANSCORE_BIN=$(DEBUG_BIN) LOANSCORED_BIN=$(CURDIR)/.build/debug/loanscored $(VENV)/bin/python -m pytest Protocol/tests -q
	LOANSCORE_BIN=$(DEBUG_BIN) LOANSCORED_BIN=$(CURDIR)/.build/debug/loanscored $(VENV)/bin/python -m pytest deploy/tests -q
	$(MAKE) stream-test
	cd clients/python && .venv/bin/mypy
	LOANSCORE_BIN=$(DEBUG_BIN) LOANSCORED_BIN=$(CURDIR)/.build/debug/loanscored LOANSCORE_LIBRARY=$(CURDIR)/.build/debug/libLoanScoreC.so \
		TRAINING_PYTHON=$(CURDIR)/$(PYTHON) $(CLIENT_VENV)/bin/python -m pytest clients/python/tests -q

## The C test program (clients/python/tests/c_api) against libLoanScoreC.so built under
## AddressSanitizer itself (by the Fuzz package, as its CABIFuzz target links it).
c-abi-asan: venv client-venv
	swift build -c debug -Xswiftc -sanitize=fuzzer,address --package-path Fuzz --product CABIFuzz
	LOANSCORE_BIN=$(DEBUG_BIN) LOANSCORE_LIBRARY=$(CURDIR)/Fuzz/.build/debug/libLoanScoreC.so LOANSCORE_C_SANITIZE=address,undefined,fuzzer-no-link \
		TRAINING_PYTHON=$(CURDIR)/$(PYTHON) $(CLIENT_VENV)/bin/python -m pytest clients/python/tests/test_c_api.py -q

## The Kafka bridge against a real tansu broker and loanscored on loopback (Protocol/STREAM.md),
## the 100,000-application SIGKILL test included; --durations prints what each test cost.
stream-test: venv
	LOANSCORED_BIN=$(CURDIR)/.build/debug/loanscored LOANSCORE_STREAM_BIN=$(CURDIR)/.build/debug/loanscore-stream \
		$(VENV)/bin/python -m pytest Protocol/stream_tests -q --durations=0

## A short fuzzing run: every libFuzzer target 20 s under AddressSanitizer (Fuzz/README.md).
fuzz-smoke:
	Fuzz/run.sh 20

clean:
	rm -rf .build Fuzz/.build $(VENV) $(CLIENT_VENV) dist demo mlruns.db mlartifacts
